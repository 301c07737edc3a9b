# tools/soak/plot.gp - the soak run over time (tools/soak/report.py calls
# it). Variables: dir (the work directory: soak.csv, queues_t.dat), out (the
# PNG), tw (end of warm-up, s), te (end of the run phase, s), tmax (last
# sample, s), cap (queue cap + in-flight window, messages), title.
#
# soak.csv columns: 1 t, 2 phase, 3 rss_kb, 4 hwm_kb, 5 rss_anon_kb,
# 6 rss_file_kb, 7 store_bytes, 8 store_alloc_bytes, 9 connected,
# 10 connecting, 11 offline, 12 sent, 13 acked, 14 refused, 15 delivered,
# 16 connects, 17 closes, 18 broker_cpu_pct, 19 driver_cpu_pct (per second).
# queues_t.dat: t, deepest queue, its bytes, all queued entries, sessions,
# the slow subscriber's queue.
set terminal pngcairo size 1100,1400 font "DejaVu Sans,10"
set output out
set datafile separator ","
set multiplot layout 4,1 title title font ",13"
set grid
set key tmargin left horizontal font ",9"
set xrange [0:tmax]
set lmargin 10
set rmargin 12
set arrow 1 from tw, graph 0 to tw, graph 1 nohead dt 2 lc "gray40"
set arrow 2 from te, graph 0 to te, graph 1 nohead dt 2 lc "gray40"
set label 1 "warm-up end" at tw, graph 0.04 offset 0.5,0 font ",8"
set label 2 "run end" at te, graph 0.04 offset 0.5,0 font ",8"

set title "broker memory (MiB) and store file (MiB, right)"
set ylabel "MiB"
set y2label "store MiB"
set yrange [0:*]
set y2range [0:*]
set ytics nomirror
set y2tics
plot dir."/soak.csv" using 1:($3/1024) every ::1 with lines lw 2 lc "red" title "VmRSS", \
     "" using 1:($4/1024) every ::1 with lines dt 3 lc "red" title "VmHWM", \
     "" using 1:($5/1024) every ::1 with lines lc "orange" title "RssAnon (heap)", \
     "" using 1:($6/1024) every ::1 with lines lc "purple" title "RssFile (store pages)", \
     "" using 1:($7/1048576) every ::1 axes x1y2 with lines lw 2 lc "blue" title "store file size"

set title "queues on disk (holdfast-db sessions, every 2 s)"
set ylabel "entries, deepest queue"
set y2label "entries, all queues"
set datafile separator whitespace
plot dir."/queues_t.dat" using 1:2 with lines lw 2 lc "dark-green" title "deepest queue", \
     dir."/queues_t.dat" using 1:6 with lines lc "red" title "slow subscriber's queue", \
     cap with lines dt 2 lc "black" title "max\\_queued\\_messages + in flight", \
     dir."/queues_t.dat" using 1:4 axes x1y2 with lines lc "gray50" title "all queued entries (right)"
set datafile separator ","

set title "connections (left) and CPU % of one core (right)"
set ylabel "connections"
set y2label "CPU %"
plot dir."/soak.csv" using 1:9 every ::1 with lines lw 2 lc "black" title "connected", \
     "" using 1:11 every ::1 with lines lc "gray50" title "offline (want to be connected)", \
     "" using 1:18 every ::1 axes x1y2 with lines lc "red" title "broker CPU", \
     "" using 1:19 every ::1 axes x1y2 with lines lc "blue" title "hfsoak CPU"

set title "messages per second"
set xlabel "seconds since start"
set ylabel "msg/s"
set y2label "deliveries/s"
plot dir."/soak.csv" using 1:12 every ::1 with lines lc "black" title "published", \
     "" using 1:13 every ::1 with lines lc "dark-green" title "acknowledged (QoS 1/2)", \
     "" using 1:14 every ::1 with lines lw 2 lc "red" title "refused (0x97)", \
     "" using 1:15 every ::1 axes x1y2 with lines lc "blue" title "delivered (right)"
unset multiplot
