#!/usr/bin/env bash
# Build an image of a server not written for drainlab, from Debian's packages and without Docker,
# as an archive for `app.image_archive` (docker-save format; `ctr images import` reads it):
#
#   nginx        Debian's nginx on the cached Python base layer (build-images.sh): the packages
#                apt would add to that base (`apt-get -s` against its dpkg status), fetched with
#                `apt-get download` and unpacked with `dpkg-deb -x`, and a config for a container:
#                in the foreground, port 8080, logs on stdout/stderr, / a static page and /slow a
#                16 KiB page sent at 16 KiB/s (about one second). SIGTERM is nginx's fast
#                shutdown, SIGQUIT its graceful one.
#   lighttpd     Debian's lighttpd (1.4.69 in bookworm), built the same way, config for a container:
#                in the foreground (-D), port 8080, errors on stderr, pid file in /run, / a
#                static page. SIGTERM is its immediate shutdown (connections cut), SIGINT its
#                graceful one.
#   http-server  `python3 -m http.server 8080` on the same base, serving /srv (an index.html):
#                it exits at once on SIGTERM.
#
# usage: build-test-images.sh nginx|lighttpd|http-server
# The last line of stdout is "ARCHIVE REF" (REF: drainlab/test-NAME:bookworm). Each archive is
# cached in $DL_IMAGES/drainlab-test-images/ under a key of everything that goes into it (this
# script, the base layer, the package versions apt would install) and built once per key.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need_root  # writes below the cache; unpacks packages with their owners and modes
umask 022  # the image's folders must be readable by nginx's workers (www-data)

name="${1:-}"
case "$name" in
  nginx) cmd='["nginx", "-g", "daemon off;"]'; workdir=/ ;;
  lighttpd) cmd='["lighttpd", "-D", "-f", "/etc/lighttpd/lighttpd.conf"]'; workdir=/ ;;
  http-server) cmd='["python3", "-m", "http.server", "8080"]'; workdir=/srv ;;
  *) die "usage: $0 nginx|lighttpd|http-server" ;;
esac
ref="drainlab/test-$name:$DL_SUITE"
BASE_LAYER="$DL_IMAGES/python-base-$DL_SUITE.layer.tar"
[[ -s "$BASE_LAYER" ]] || die "no base layer $BASE_LAYER (build-images.sh makes it; up.sh runs that)"
OUT="$DL_IMAGES/drainlab-test-images"
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9

work="$(mktemp -d "$OUT/build.XXXXXX")"
always 'remove_tree "$work"'
root="$work/root"
mkdir -p "$root" "$work/debs"

# The packages (name=version) that installing the server into the base would add, as apt decides.
plan=()
if [[ "$name" != http-server ]]; then
  tar -xOf "$BASE_LAYER" ./var/lib/dpkg/status >"$work/status" || die "the base layer has no dpkg status"
  mapfile -t plan < <(apt-get -s -o Dir::State::status="$work/status" --no-install-recommends \
    install "$name" 2>"$work/apt.log" | awk '/^Inst /{print $2 "=" substr($3, 2)}')
  ((${#plan[@]} > 0)) || die "apt-get cannot plan $name on the base: $(tail -n1 "$work/apt.log")"
fi

if [[ -s "$BASE_LAYER.sha256" && ! "$BASE_LAYER" -nt "$BASE_LAYER.sha256" ]]; then
  base_digest="$(cat "$BASE_LAYER.sha256")"
else
  base_digest="$(sha256sum "$BASE_LAYER" | cut -d' ' -f1)"
fi
key="$({ cat "${BASH_SOURCE[0]}"; echo "$name $base_digest"; printf '%s\n' "${plan[@]}"; } | sha256sum | cut -c1-16)"
archive="$OUT/$name-$key.tar"
if [[ -s "$archive" ]]; then
  touch "$archive"  # its time is when it was last handed out: see the pruning below
  printf '%s %s\n' "$archive" "$ref"
  exit 0
fi

if [[ "$name" != http-server ]]; then
  say "building $ref: ${plan[*]}" >&2
  (cd "$work/debs" && apt-get download "${plan[@]}") >"$work/download.log" 2>&1 || \
    die "apt-get download failed: $(tail -n1 "$work/download.log")"
  for deb in "$work"/debs/*.deb; do
    dpkg-deb -x "$deb" "$root" || die "dpkg-deb -x $deb failed"
  done
  # The base is merged-/usr (/bin, /lib... are links into /usr): a layer holding a real /lib
  # folder would replace that link and hide every library, so such files go below /usr.
  for dir in bin sbin lib lib64; do
    if [[ -d "$root/$dir" && ! -L "$root/$dir" ]]; then
      mkdir -p "$root/usr/$dir"
      cp -a "$root/$dir/." "$root/usr/$dir/"
      rm -rf "${root:?}/$dir"
    fi
  done
  rm -rf "$root"/usr/share/doc "$root"/usr/share/man "$root"/usr/share/lintian
fi
if [[ "$name" == nginx ]]; then
  mkdir -p "$root/var/lib/nginx" "$root/var/log/nginx" "$root/var/www/html"
  cat >"$root/etc/nginx/nginx.conf" <<'EOF'
# drainlab's test image: Debian's nginx as a container runs it (CMD nginx -g 'daemon off;').
user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log stderr notice;
events {
    worker_connections 1024;
}
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /dev/stdout;
    server {
        listen 8080;
        root /var/www/html;
        location / {
            index index.html;
        }
        # A request that takes about a second: 16 KiB at 16 KiB/s.
        location = /slow {
            default_type text/plain;
            limit_rate 16k;
        }
    }
}
EOF
  echo "<html><body>nginx from Debian, for drainlab</body></html>" >"$root/var/www/html/index.html"
  head -c 16384 /dev/zero | tr '\0' 's' >"$root/var/www/html/slow"
  "$root/usr/sbin/nginx" -V >/dev/null 2>&1 || die "the unpacked nginx does not run"
elif [[ "$name" == lighttpd ]]; then
  mkdir -p "$root/var/www/html" "$root/var/tmp/lighttpd"
  # Only what a static site needs: mod_indexfile and mod_staticfile are built into 1.4.69.
  # Runs as the container's user (root): no server.username, nothing to drop to.
  cat >"$root/etc/lighttpd/lighttpd.conf" <<'EOF'
# drainlab's test image: Debian's lighttpd as a container runs it (lighttpd -D -f this file).
server.port = 8080
server.document-root = "/var/www/html"
server.pid-file = "/run/lighttpd.pid"
server.errorlog = "/dev/stderr"
server.upload-dirs = ( "/var/tmp/lighttpd" )
server.modules = ( )
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html" )
EOF
  echo "<html><body>lighttpd from Debian, for drainlab</body></html>" >"$root/var/www/html/index.html"
  "$root/usr/sbin/lighttpd" -v >/dev/null 2>&1 || die "the unpacked lighttpd does not run"
else
  say "building $ref" >&2
  mkdir -p "$root/srv"
  echo "<html><body>python3 -m http.server, for drainlab</body></html>" >"$root/srv/index.html"
fi

mapfile -t top < <(find "$root" -mindepth 1 -maxdepth 1 -printf '%P\n' | sort)
tar --numeric-owner --owner=0 --group=0 --mtime=@0 --sort=name -C "$root" \
  -cf "$work/layer.tar" "${top[@]}"
python3 "$DL_DIR/image-archive.py" "$work/image.tar" "$BASE_LAYER" "$work/layer.tar" \
  --tag "$ref" --cmd "$cmd" --env PYTHONUNBUFFERED=1 --workdir "$workdir" >/dev/null
mv "$work/image.tar" "$archive"
# Older keys' archives are stale, but another checkout (another version of this script) may be
# using one right now: only those not handed out for a day go.
find "$OUT" -maxdepth 1 -name "$name-*.tar" ! -name "${archive##*/}" -mmin +1440 -delete
say "built $archive ($(du -h "$archive" | cut -f1))" >&2
printf '%s %s\n' "$archive" "$ref"
