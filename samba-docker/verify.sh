#!/usr/bin/env bash
# samba-docker/verify.sh — prove that every test variant behaves as its name says.
#
#   verify.sh [VARIANT...]        (default: all variants; as root; needs smbd, smbclient, python3)
#
# For each variant: start it with native.sh on a free loopback port, then check
#   - the wire: a raw NEGOTIATE (negotiate-probe.py) -> dialect, SecurityMode (signing required),
#     the cipher and signing algorithm the server picks, and what it refuses;
#   - the server's view of a real smbclient session (smbstatus: protocol, encryption, signing);
#   - functional access with smbclient (put/get round trip, read-only share, guest, NTLMv1,
#     per-share encryption), including the refusals.
# Prints "ok"/"FAIL" per check and exits non-zero if any check failed. Takes ~1 min for all.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NATIVE=$HERE/native.sh
PROBE=$HERE/negotiate-probe.py
STATE=$(mktemp -d /tmp/fusevol-verify.XXXXXX)
chmod 0755 "$STATE"
PORT=
FAILS=0
CHECKS=0
trap 'bash "$NATIVE" stop "$STATE" >/dev/null 2>&1; rm -rf "$STATE"' EXIT

[ "$(id -u)" = 0 ] || { echo "verify.sh: run as root" >&2; exit 1; }
for t in smbd smbclient smbstatus python3 ss; do
    command -v "$t" >/dev/null || { echo "verify.sh: $t not found" >&2; exit 1; }
done

free_port() {
    local p
    for p in $(seq 24455 24555); do
        ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
    echo "verify.sh: no free port in 24455-24555" >&2
    exit 1
}

result() { # result OK|FAIL DESC [DETAIL]
    CHECKS=$((CHECKS + 1))
    if [ "$1" = OK ]; then
        printf '  ok    %s\n' "$2"
    else
        FAILS=$((FAILS + 1))
        printf '  FAIL  %s\n        got: %s\n' "$2" "${3:-}"
    fi
}

# probe DESC EXPECT_REGEX [probe args...]: the probe's one-line answer must match.
probe() {
    local desc=$1 re=$2 out
    shift 2
    out=$(python3 "$PROBE" "$PORT" "$@" 2>&1)
    if [[ $out =~ $re ]]; then result OK "$desc  [$out]"; else result FAIL "$desc" "$out"; fi
}

sc() { # sc SHARE [smbclient args...] (-A creds added unless NOCREDS=1)
    local share=$1
    shift
    if [ "${NOCREDS:-0}" = 1 ]; then
        timeout 30 smbclient "//127.0.0.1/$share" -p "$PORT" "$@" 2>&1
    else
        timeout 30 smbclient "//127.0.0.1/$share" -p "$PORT" -A "$STATE/creds" "$@" 2>&1
    fi
}

# works DESC SHARE [smbclient args...]: put a random file, get it back, compare.
works() {
    local desc=$1 share=$2 out src=$STATE/src.bin dst=$STATE/dst.bin
    shift 2
    head -c 100000 /dev/urandom >"$src"
    rm -f "$dst"
    out=$(sc "$share" "$@" -c "put $src verify.bin; get verify.bin $dst; del verify.bin")
    if [ $? -eq 0 ] && cmp -s "$src" "$dst"; then
        result OK "$desc"
    else
        result FAIL "$desc" "$(tail -n 2 <<<"$out" | tr '\n' ' ')"
    fi
}

# refused DESC EXPECT_REGEX SHARE [smbclient args...]: smbclient fails with that status.
refused() {
    local desc=$1 re=$2 share=$3 out rc
    shift 3
    out=$(sc "$share" "$@" -c "put /etc/hostname refused.txt")
    rc=$?
    if [ $rc -ne 0 ] && [[ $out =~ $re ]]; then
        result OK "$desc  [${BASH_REMATCH[0]}]"
    else
        result FAIL "$desc" "rc=$rc $(tail -n 2 <<<"$out" | tr '\n' ' ')"
    fi
}

# session DESC SHARE EXPECT_REGEX [smbclient args...]: keep an smbclient session open and match
# the server's smbstatus line for it: "PROTOCOL ENCRYPTION SIGNING" (session) or, with
# SHARE_LEVEL=1, "ENCRYPTION SIGNING" of the tree connect.
session() {
    local desc=$1 share=$2 re=$3 line=""
    shift 3
    (sleep 1.5; echo ls) | sc "$share" "$@" >/dev/null &
    local bg=$!
    for _ in $(seq 1 40); do
        if [ "${SHARE_LEVEL:-0}" = 1 ]; then
            line=$(smbstatus -S -s "$STATE/smb.conf" 2>/dev/null | awk -v s="$share" '$1 == s { print $(NF-1), $NF }')
        else
            # Only once authenticated (user column set): before that the flags are not final.
            line=$(smbstatus -b -s "$STATE/smb.conf" 2>/dev/null | awk '
                $1 ~ /^[0-9]+$/ && $2 == "fusevoltest" {
                    for (i = 3; i <= NF - 2; i++) if ($i ~ /^SMB[23]_[0-9]+$/) { print $i, $(i+1), $(i+2); exit }
                }')
        fi
        [ -n "$line" ] && break
        sleep 0.05
    done
    wait "$bg"
    if [[ $line =~ $re ]]; then result OK "$desc  [$line]"; else result FAIL "$desc" "${line:-no session seen}"; fi
}

start() {
    PORT=$(free_port)
    local out
    if ! out=$(bash "$NATIVE" start "$1" "$STATE" "$PORT" 2>&1); then
        echo "$out"
        result FAIL "start $1" "$out"
        return 1
    fi
    echo "== $1 (port $PORT)"
}
stop() { bash "$NATIVE" stop "$STATE" >/dev/null; }

other_dialects() { # all of 202,210,300,302,311 but $1
    local d out=()
    for d in 202 210 300 302 311; do [ "$d" = "$1" ] || out+=("$d"); done
    (IFS=,; echo "${out[*]}")
}

declare -A DIALECT_NAME=([202]=SMB2_02 [210]=SMB2_10 [300]=SMB3_00 [302]=SMB3_02 [311]=SMB3_11)
declare -A CIPHER_ID=([AES-128-CCM]=1 [AES-128-GCM]=2 [AES-256-CCM]=3 [AES-256-GCM]=4)

check_variant() {
    local v=$1
    start "$v" || return
    case $v in
        default)
            probe "negotiates 3.1.1, signing not required" 'dialect=0x0311 security_mode=0x01 ' 
            for d in 202 210 300 302; do
                probe "accepts a client offering only ${DIALECT_NAME[$d]}" "dialect=0x0$d " --dialects $d
            done
            works "share: put/get round trip" share
            session "share session: SMB3_11, not encrypted" share '^SMB3_11 - '
            SHARE_LEVEL=1 session "secret tree connect is encrypted" secret '^AES-128-GCM '
            refused "secret refused over SMB 2.1 (no encryption)" NT_STATUS_ACCESS_DENIED secret -m SMB2_10
            refused "ro is read-only" 'NT_STATUS_(ACCESS_DENIED|MEDIA_WRITE_PROTECTED)' ro
            NOCREDS=1 refused "public refused to anonymous" NT_STATUS_ACCESS_DENIED public -N
            NOCREDS=1 refused "public refused to an unknown user" NT_STATUS_LOGON_FAILURE public -U nosuchuser%x
            works "public works for the test user" public
            refused "NTLMv1 refused" NT_STATUS_LOGON_FAILURE share --option='client ntlmv2 auth=no'
            ;;
        smb2_02 | smb2_10 | smb3_00 | smb3_02 | smb3_11)
            local d=${v#smb}
            d=${d/_/}
            local name=${DIALECT_NAME[$d]}
            probe "negotiates only $name" "dialect=0x0$d " 
            probe "refuses a client offering all but $name" 'status=(0xc00000bb|closed)' --dialects "$(other_dialects "$d")"
            works "share: put/get with smbclient -m $name" share -m "$name" --option="client min protocol=$name"
            session "session protocol is $name" share "^$name " -m "$name" --option="client min protocol=$name"
            ;;
        sign-hmac)
            probe "2.1 only, signing required" 'dialect=0x0210 security_mode=0x03 '
            probe "refuses 3.x-only clients" 'status=(0xc00000bb|closed)' --dialects 300,302,311
            works "share: put/get" share
            session "session signed with HMAC-SHA256" share '^SMB2_10 - HMAC-SHA256$' --client-protection=off
            ;;
        sign-cmac)
            probe "3.0.2 only, signing required" 'dialect=0x0302 security_mode=0x03 '
            works "share: put/get" share
            session "session signed with AES-128-CMAC" share '^SMB3_02 - AES-128-CMAC$' --client-protection=off
            ;;
        sign-gmac)
            probe "3.1.1, signing required, picks AES-128-GMAC" 'dialect=0x0311 security_mode=0x03 .*signing=AES-128-GMAC$'
            probe "rejects a client without GMAC (CMAC+HMAC offered)" 'status=0xc000000d' --signing 1,0
            probe "rejects a client without a signing context" 'status=0xc000000d' --signing ''
            works "share: put/get" share
            session "session signed with AES-128-GMAC" share '^SMB3_11 - AES-128-GMAC$' --client-protection=off
            ;;
        sign-cmac311)
            probe "3.1.1, signing required, picks AES-128-CMAC" 'dialect=0x0311 security_mode=0x03 .*signing=AES-128-CMAC$'
            probe "no signing context back when CMAC not offered (CMAC is 3.1.1's default)" 'dialect=0x0311 .*signing=-$' --signing 2,0
            works "share: put/get" share
            session "session signed with AES-128-CMAC" share '^SMB3_11 - AES-128-CMAC$' --client-protection=off
            ;;
        sign-hmac311)
            probe "3.1.1, signing required, picks HMAC-SHA256" 'dialect=0x0311 security_mode=0x03 .*signing=HMAC-SHA256$'
            probe "rejects a client without HMAC-SHA256 (GMAC+CMAC offered)" 'status=0xc000000d' --signing 2,1
            works "share: put/get" share
            session "session signed with HMAC-SHA256" share '^SMB3_11 - HMAC-SHA256$' --client-protection=off
            ;;
        encrypt-aes128ccm | encrypt-aes128gcm | encrypt-aes256ccm | encrypt-aes256gcm)
            local c=${v#encrypt-}
            c=${c^^}
            c="${c:0:3}-${c:3:3}-${c:6}"
            local others=''
            local o
            for o in AES-128-CCM AES-128-GCM AES-256-CCM AES-256-GCM; do
                [ "$o" = "$c" ] || others+=${others:+,}$o
            done
            probe "3.1.1 only, picks $c from all four" "dialect=0x0311 .*cipher=$c "
            probe "no common cipher when $c is not offered" 'cipher=0x0 ' --ciphers "$(for o in 1 2 3 4; do [ "$o" = "${CIPHER_ID[$c]}" ] || printf '%s,' "$o"; done)"
            works "share: put/get (smbclient --client-protection=encrypt)" share --client-protection=encrypt
            session "session encrypted with $c even if the client does not ask" share "^SMB3_11 $c " --client-protection=off
            refused "session refused to a client without $c" NT_STATUS_ACCESS_DENIED share --option="client smb3 encryption algorithms=$others"
            ;;
        encrypt-smb30)
            probe "3.0 only" 'dialect=0x0300 '
            works "share: put/get (smbclient --client-protection=encrypt)" share --client-protection=encrypt -m SMB3_00
            session "session encrypted with AES-128-CCM" share '^SMB3_00 AES-128-CCM ' -m SMB3_00 --client-protection=off
            refused "SMB 2.1 client refused" 'NT_STATUS_[A-Z_]+' share -m SMB2_10
            ;;
        ntlmv1)
            works "NTLMv1 client (client ntlmv2 auth = no) accepted" share --option='client ntlmv2 auth=no'
            works "NTLMv2 client accepted" share
            ;;
        guest)
            NOCREDS=1 works "public: anonymous put/get" public -N
            NOCREDS=1 works "public: unknown user mapped to guest" public -U nosuchuser%x
            NOCREDS=1 refused "share refused to guest" NT_STATUS_ACCESS_DENIED share -U nosuchuser%x
            works "share: test user put/get" share
            local f=$STATE/shares/public/owner-check
            NOCREDS=1 sc public -N -c "put /etc/hostname owner-check" >/dev/null
            if [ "$(stat -c %U "$f" 2>/dev/null)" = fusevoltest ]; then
                result OK "guest-created file owned by fusevoltest on the server"
            else
                result FAIL "guest-created file owned by fusevoltest" "$(stat -c %U "$f" 2>&1)"
            fi
            ;;
        *)
            works "share: put/get" share
            ;;
    esac
    stop
}

VARIANTS=("$@")
[ ${#VARIANTS[@]} -gt 0 ] || mapfile -t VARIANTS < <(bash "$NATIVE" variants)
for v in "${VARIANTS[@]}"; do check_variant "$v"; done
echo "verify.sh: $CHECKS checks, $FAILS failed"
[ "$FAILS" = 0 ]
