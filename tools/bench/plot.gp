# tools/bench/plot.gp - draws docs/benchmarks.png for tools/bench/run.
#
# Design: two panels, clustered bars (Holdfast, mosquitto and FlashMQ when
# the suite ran it: brokers.gp sets nbrokers) per scenario on
# a log scale: deliveries per second for the throughput scenarios, and p99
# end-to-end latency for every scenario that has latency samples. The data
# files (label holdfast mosquitto [flashmq] per line) come from report.py.
#
# Usage: gnuplot -e "dir='RESULTS'; out='docs/benchmarks.png'" plot.gp
if (!exists("dir")) dir = "."
if (!exists("out")) out = "benchmarks.png"
nbrokers = 2
load dir."/brokers.gp"

set terminal pngcairo size 1400,1000 font "DejaVu Sans,11"
set output out
set bmargin 4
set multiplot layout 2,1 title (nbrokers > 2 ? "Holdfast vs mosquitto and FlashMQ" : "Holdfast vs mosquitto")." (same machine, same hfbench command)"

set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set grid ytics
set key top right
set xtics nomirror font ",10"
set format y "10^{%T}"

set title "Throughput: deliveries per second (log scale, higher is better)"
set ylabel "deliveries/s"
set yrange [1:*]
if (nbrokers > 2) {
plot dir."/throughput.dat" using 2:xtic(1) title "Holdfast" lc rgb "#1f77b4", \
     "" using 3 title "mosquitto" lc rgb "#ff7f0e", \
     "" using 4 title "FlashMQ" lc rgb "#2ca02c"
} else {
plot dir."/throughput.dat" using 2:xtic(1) title "Holdfast" lc rgb "#1f77b4", \
     "" using 3 title "mosquitto" lc rgb "#ff7f0e"
}

set title "p99 end-to-end latency (log scale, lower is better; unlimited runs measure backlog)"
set ylabel "p99 latency (ms)"
set yrange [0.1:*]
set format y "%g"
if (nbrokers > 2) {
plot dir."/p99.dat" using 2:xtic(1) title "Holdfast" lc rgb "#1f77b4", \
     "" using 3 title "mosquitto" lc rgb "#ff7f0e", \
     "" using 4 title "FlashMQ" lc rgb "#2ca02c"
} else {
plot dir."/p99.dat" using 2:xtic(1) title "Holdfast" lc rgb "#1f77b4", \
     "" using 3 title "mosquitto" lc rgb "#ff7f0e"
}

unset multiplot
