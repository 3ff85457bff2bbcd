# shellcheck shell=bash
# samba-docker/lib.sh — shared by native.sh (private smbd on loopback) and
# docker-entrypoint.sh (the same smbd in a container). Source it; it defines functions only.
#
#   fv_gen_conf VARIANT STATE_DIR PORT LISTEN   writes STATE_DIR/smb.conf, creates the state dirs
#   fv_ensure_user                              creates the system user $FV_USER if missing
#   fv_prepare_shares STATE_DIR                 share backing dirs, owned by $FV_USER
#   fv_set_password STATE_DIR                   random Samba password (stdin only) + STATE_DIR/creds
#
# smb.conf.base placeholders: @VARIANT@ @STATE_DIR@ @PORT@ @USER@ @WORKGROUP@ @NETBIOS_NAME@
# @LOG_LEVEL@ (anywhere in a line); @LISTEN@ and @VARIANT_CONF@ (alone on their line: replaced by
# the listen lines and by the contents of variants/VARIANT.conf).
#
# LISTEN is "loopback" (interfaces = 127.0.0.1, bind interfaces only) or "any" (containers: the
# host publishes the port on 127.0.0.1 only).

FV_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FV_USER=${FUSEVOL_SMB_USER:-fusevoltest}
FV_WORKGROUP=FUSEVOL
FV_NETBIOS_NAME=FUSEVOLSMB
FV_SHARES=(share ro public secret)

fv_die() {
    echo "${FV_PROG:-samba-docker}: $*" >&2
    exit 1
}

fv_variants() {
    local f
    for f in "$FV_DIR"/variants/*.conf; do
        f=${f##*/}
        echo "${f%.conf}"
    done
}

fv_check_variant() {
    [[ $1 =~ ^[a-z0-9_-]+$ ]] || fv_die "bad variant name '$1'"
    [ -f "$FV_DIR/variants/$1.conf" ] ||
        fv_die "unknown variant '$1' (known: $(fv_variants | tr '\n' ' '))"
}

fv_check_state_dir() {
    # smb.conf has no quoting: keep the path to characters that need none.
    [[ $1 =~ ^/[A-Za-z0-9._/+-]+$ ]] || fv_die "STATE_DIR must be an absolute path of [A-Za-z0-9._/+-] (got '$1')"
    [[ $1 != *..* ]] || fv_die "STATE_DIR must not contain '..'"
}

fv_gen_conf() {
    local variant=$1 state=$2 port=$3 listen=$4 listen_lines line
    fv_check_variant "$variant"
    fv_check_state_dir "$state"
    [[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || fv_die "bad port '$port'"
    case $listen in
        loopback) listen_lines=$'  interfaces = 127.0.0.1\n  bind interfaces only = yes' ;;
        any) listen_lines='  bind interfaces only = no' ;;
        *) fv_die "LISTEN must be loopback or any (got '$listen')" ;;
    esac
    mkdir -p "$state"/{lock,state,cache,private,pid,ncalrpc,bind-dns,log,shares}
    chmod 0755 "$state" "$state/shares"
    chmod 0700 "$state/private"
    {
        while IFS= read -r line || [ -n "$line" ]; do
            case $line in
                @VARIANT_CONF@) cat "$FV_DIR/variants/$variant.conf" ;;
                @LISTEN@) printf '%s\n' "$listen_lines" ;;
                *)
                    line=${line//@VARIANT@/$variant}
                    line=${line//@STATE_DIR@/$state}
                    line=${line//@PORT@/$port}
                    line=${line//@USER@/$FV_USER}
                    line=${line//@WORKGROUP@/$FV_WORKGROUP}
                    line=${line//@NETBIOS_NAME@/$FV_NETBIOS_NAME}
                    line=${line//@LOG_LEVEL@/${SMBD_LOG_LEVEL:-1}}
                    printf '%s\n' "$line"
                    ;;
            esac
        done <"$FV_DIR/smb.conf.base"
    } >"$state/smb.conf.tmp"
    mv -f "$state/smb.conf.tmp" "$state/smb.conf"
    if command -v testparm >/dev/null 2>&1; then
        # Unknown or misspelt parameters are reported, not fatal, in smbd: catch them here.
        local out
        out=$(testparm -s "$state/smb.conf" 2>&1 >/dev/null) ||
            fv_die "testparm rejects $state/smb.conf: $out"
        if grep -Ei 'unknown parameter|invalid|ignoring' <<<"$out" >&2; then
            fv_die "testparm complains about $state/smb.conf (see above)"
        fi
    fi
}

fv_ensure_user() {
    id "$FV_USER" >/dev/null 2>&1 && return 0
    # Several instances may start at once: tolerate losing the race.
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
        "$FV_USER" 2>/dev/null || true
    id "$FV_USER" >/dev/null 2>&1 || fv_die "cannot create user $FV_USER"
}

fv_prepare_shares() {
    local state=$1 s
    for s in "${FV_SHARES[@]}"; do
        mkdir -p "$state/shares/$s"
        chown "$FV_USER:" "$state/shares/$s"
        chmod 0775 "$state/shares/$s"
    done
}

fv_random_password() {
    # 24 alphanumerics from /dev/urandom; never on a command line.
    local pw=''
    while [ ${#pw} -lt 24 ]; do
        pw+=$(head -c 256 /dev/urandom | tr -dc 'A-Za-z0-9')
    done
    printf '%s' "${pw:0:24}"
}

fv_set_password() {
    local state=$1 pw
    pw=$(fv_random_password)
    # smbpasswd -s reads the new password twice from stdin (printf is a builtin: no argv).
    printf '%s\n%s\n' "$pw" "$pw" |
        smbpasswd -c "$state/smb.conf" -s -a "$FV_USER" >"$state/log/smbpasswd.out" 2>&1 ||
        fv_die "smbpasswd failed: $(cat "$state/log/smbpasswd.out")"
    # mount.cifs credentials format (also read by smbclient -A and fusevol credentials=).
    (
        umask 077
        printf 'username=%s\npassword=%s\ndomain=%s\n' "$FV_USER" "$pw" "$FV_WORKGROUP" \
            >"$state/creds.tmp"
    )
    mv -f "$state/creds.tmp" "$state/creds"
    chmod 0600 "$state/creds"
}
