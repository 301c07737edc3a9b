#!/bin/sh
# tests/helpers/mkpki.sh DIR - a throwaway PKI for the TLS tests, made with
# the openssl command line into DIR (created; emptied first).
#
#   ca.crt ca.key            the test CA (CN=Holdfast Test CA)
#   other-ca.crt             a second, unrelated CA
#   server.crt server.key    CN=localhost, SAN IP:127.0.0.1 and DNS:localhost
#   agent-a.crt/.key         client, subject O=Holdfast Test, OU=Agents,
#                            CN=agent-a (RFC 2253: CN=agent-a,OU=Agents,O=...)
#   agent-b.crt/.key         client, CN=agent-b
#   expired.crt/.key         client of ca, valid 2020-01-01 .. 2020-01-02 only
#   foreign.crt/.key         client CN=foreign, issued by other-ca
#   revoked.crt/.key         client of ca, revoked in crl.pem
#   crl.pem                  ca's CRL (revoked.crt listed)
#   crl-agent-b.pem          a later CRL of ca: revoked.crt and agent-b.crt
#   server2.crt server2.key  another server certificate (CN=localhost-2), for
#                            reload tests
#   wrong.key                a key that matches no certificate
#   dhparam.pem              the RFC 7919 ffdhe2048 group
#   garbage.pem              not PEM at all
#   capath/                  ca.crt under its subject hash (openssl rehash)
#
# Keys are EC P-256 (fast to make, fast handshakes). `openssl ca` with a
# minimal database is used so that dates can be set in the past and a
# certificate revoked. Exits non-zero on any failure. Idempotent: a second
# run with DIR/done present does nothing (CTest fixtures may run it twice).
set -eu

dir=${1:?usage: mkpki.sh DIR}
if [ -f "$dir/done" ]; then
	exit 0
fi
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"

key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$1" 2>/dev/null
}

# A CA database for `openssl ca` (one per CA).
cadb() {
	mkdir -p "$1.db"
	: >"$1.db/index.txt"
	echo 1000 >"$1.db/serial"
	cat >"$1.cnf" <<EOF
[ca]
default_ca = CA_default
[CA_default]
dir = $dir/$1.db
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
certificate = $dir/$1.crt
private_key = $dir/$1.key
default_md = sha256
default_crl_days = 3650
policy = policy_any
unique_subject = no
copy_extensions = copy
[policy_any]
organizationName = optional
organizationalUnitName = optional
commonName = supplied
[client_ext]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = clientAuth
[server_ext]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
EOF
}

mkca() { # name subject
	key "$1.key"
	openssl req -x509 -new -key "$1.key" -sha256 -days 3650 \
		-subj "$2" -out "$1.crt" \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign
	cadb "$1"
}

# sign CA NAME SUBJECT EXT [extra openssl ca arguments]
sign() {
	ca=$1 name=$2 subj=$3 ext=$4
	shift 4
	key "$name.key"
	openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr"
	openssl ca -batch -notext -config "$ca.cnf" -extensions "$ext" \
		-in "$name.csr" -out "$name.crt" "$@" 2>/dev/null
	rm -f "$name.csr"
}

mkca ca "/CN=Holdfast Test CA"
mkca other-ca "/CN=Other Test CA"

sign ca server "/CN=localhost" server_ext -days 3650
sign ca server2 "/CN=localhost-2" server_ext -days 3650
sign ca agent-a "/O=Holdfast Test/OU=Agents/CN=agent-a" client_ext -days 3650
sign ca agent-b "/O=Holdfast Test/OU=Agents/CN=agent-b" client_ext -days 3650
sign ca expired "/CN=expired" client_ext \
	-startdate 20200101000000Z -enddate 20200102000000Z
sign ca revoked "/CN=revoked" client_ext -days 3650
sign other-ca foreign "/CN=foreign" client_ext -days 3650

openssl ca -config ca.cnf -revoke revoked.crt 2>/dev/null
openssl ca -config ca.cnf -gencrl -out crl.pem 2>/dev/null
# The next CRL: agent-b revoked too (a reload that revokes a connected
# client). crl.pem above stays as it was.
openssl ca -config ca.cnf -revoke agent-b.crt 2>/dev/null
openssl ca -config ca.cnf -gencrl -out crl-agent-b.pem 2>/dev/null

key wrong.key
openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048 \
	-out dhparam.pem
echo "this is not a certificate" >garbage.pem

mkdir -p capath
cp ca.crt capath/ca.pem
openssl rehash capath 2>/dev/null || c_rehash capath >/dev/null

# Keys readable by whoever runs the tests (and by mosquitto in benches).
chmod 644 ./*.key
touch done
