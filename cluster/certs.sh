#!/bin/sh
# cluster/certs.sh: the certificates of an rpcver cluster with TLS, made with
# the openssl command (docs/cluster.md, "TLS").
#
#   cluster/certs.sh [-d DIR] ca [--days N]
#       DIR/ca.crt and DIR/ca.key: the cluster's own CA (10 years), named
#       "rpcver cluster CA" and 8 random hex digits.  It signs
#       this cluster's nodes and clients and nothing else; keep ca.key off the
#       nodes, with whoever issues certificates.  An existing ca.key is never
#       replaced.
#   cluster/certs.sh [-d DIR] node NAME [ADDRESS...] [--days N]
#       DIR/NAME.crt and DIR/NAME.key: a node's certificate (1 year), good for
#       a TLS server and client (extendedKeyUsage serverAuth, clientAuth),
#       which rpcverd needs.  ADDRESS: the node's IP addresses and DNS names,
#       written in it for people and other tools (rpcver checks the CA, not
#       the names).
#   cluster/certs.sh [-d DIR] client NAME [--days N]
#       DIR/NAME.crt and DIR/NAME.key: a client's certificate (1 year), for
#       services, operators and the CLI: good for a TLS client only, so it
#       cannot act as a node (nodes refuse its Raft connections, clients
#       refuse it as a server).
#
# Keys are ECDSA P-256 (PKCS#8 PEM, mode 0600).  A certificate file holds the
# certificate then the CA's, as TLS sends them.  Every certificate also names
# DNS:rpcver, so that go-dqlite's `dqlite` shell, which checks that the node
# holds the first DNS name of its own client certificate, can connect
# (`dqlite -s NODES -c client.crt -k client.key rpcver`).  DIR defaults to the
# current directory.  Renew a certificate by making it again, then send the
# node SIGHUP.
set -eu

usage() {
  sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2
  exit 2
}
die() { echo "certs.sh: $*" >&2; exit 1; }

dir=.
if [ "${1:-}" = -d ]; then
  [ $# -ge 2 ] || usage
  dir=$2
  shift 2
fi
[ $# -ge 1 ] || usage
kind=$1
shift
name=
case $kind in
  ca) days=3650 ;;
  node|client)
    [ $# -ge 1 ] || usage
    name=$1
    shift
    days=365
    case $name in
      ca|'' | *[!A-Za-z0-9._-]*) die "a name of letters, digits, '.', '_' and '-' (not 'ca'), not '$name'" ;;
    esac ;;
  *) usage ;;
esac
addresses=
while [ $# -gt 0 ]; do
  case $1 in
    --days)
      [ $# -ge 2 ] || usage
      days=$2
      shift 2
      case $days in ''|*[!0-9]*) die "--days wants a whole number of days, not '$days'" ;; esac ;;
    -*) usage ;;
    *)
      [ "$kind" = node ] || usage
      addresses="$addresses $1"
      shift ;;
  esac
done
command -v openssl >/dev/null 2>&1 || die "needs the openssl command (apt-get install openssl)"

umask 077
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# The configuration of one request and its extensions.
config() {  # config CN EXTENSION-LINES...
  cn=$1
  shift
  {
    echo "[req]"
    echo "distinguished_name = dn"
    echo "prompt = no"
    echo "[dn]"
    echo "CN = $cn"
    echo "[ext]"
    for line in "$@"; do echo "$line"; done
  } > "$tmp/openssl.cnf"
}

newkey() {  # newkey FILE
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>"$tmp/err" \
    || { cat "$tmp/err" >&2; die "cannot make a key"; }
}

if [ "$kind" = ca ]; then
  [ -e "$dir/ca.key" ] && die "$dir/ca.key exists: every certificate of the cluster depends on it; remove it yourself to start a new CA"
  # a name of its own: the logs tell this CA from another one
  config "rpcver cluster CA $(openssl rand -hex 4)" \
    "basicConstraints = critical, CA:TRUE, pathlen:0" \
    "keyUsage = critical, keyCertSign, cRLSign" \
    "subjectKeyIdentifier = hash"
  newkey "$tmp/ca.key"
  openssl req -x509 -new -sha256 -key "$tmp/ca.key" -config "$tmp/openssl.cnf" \
      -extensions ext -days "$days" -out "$tmp/ca.crt" 2>"$tmp/err" \
    || { cat "$tmp/err" >&2; die "cannot make the CA certificate"; }
  mv "$tmp/ca.key" "$dir/ca.key"
  chmod 644 "$tmp/ca.crt"
  mv "$tmp/ca.crt" "$dir/ca.crt"
  echo "made $dir/ca.crt (give it to every node and client) and $dir/ca.key (keep it safe, off the nodes); valid $days days"
  exit 0
fi

[ -r "$dir/ca.crt" ] && [ -r "$dir/ca.key" ] || die "no CA in $dir: run cluster/certs.sh -d $dir ca first"
san="DNS:rpcver"
for a in $addresses; do
  case $a in
    *[!0-9.]*) case $a in *:*) san="$san, IP:$a" ;; *) san="$san, DNS:$a" ;; esac ;;
    *) san="$san, IP:$a" ;;
  esac
done
if [ "$kind" = node ]; then
  eku="serverAuth, clientAuth"
else
  eku="clientAuth"
fi
config "$name" \
  "basicConstraints = critical, CA:FALSE" \
  "keyUsage = critical, digitalSignature" \
  "extendedKeyUsage = $eku" \
  "subjectAltName = $san" \
  "subjectKeyIdentifier = hash" \
  "authorityKeyIdentifier = keyid"
newkey "$tmp/key"
openssl req -new -sha256 -key "$tmp/key" -config "$tmp/openssl.cnf" -out "$tmp/csr" 2>"$tmp/err" \
  || { cat "$tmp/err" >&2; die "cannot make the request"; }
openssl x509 -req -sha256 -in "$tmp/csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -set_serial "0x$(openssl rand -hex 15)" -days "$days" \
    -extfile "$tmp/openssl.cnf" -extensions ext -out "$tmp/crt" 2>"$tmp/err" \
  || { cat "$tmp/err" >&2; die "cannot sign the certificate"; }
cat "$tmp/crt" "$dir/ca.crt" > "$tmp/chain"
chmod 644 "$tmp/chain"
mv "$tmp/key" "$dir/$name.key"
mv "$tmp/chain" "$dir/$name.crt"
echo "made $dir/$name.crt and $dir/$name.key: a $kind's certificate ($san), valid $days days"
