"""Replay scripts for saved events: bash around curl or HTTPie; pure.

Every piece of the event that lands in a script (header names and values, the
content type, URLs) is untrusted text, so each is one single-quoted shell word. The
fixed bash around them only reads them back from variables, never as code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gosmee_trio.client.message import IncomingEvent

DEFAULT_LOCAL_DEBUG_URL = "http://localhost:8080"

# RFC 9110 §5.6.2 token: a name outside it cannot go on the wire as it arrived,
# and a leading ``@`` would make curl read headers from a file.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# A line break would let a value add headers of its own; bash arguments cannot
# hold a NUL at all.
_UNSENDABLE_VALUE = re.compile(r"[\r\n\x00]")

# NOTE: HTTPie reads ``Key:=x`` as a JSON field and ``Key:@x`` as "header value
# from file x", so a value starting with ``=`` or ``@`` is escaped for it.
_HTTPIE_LEADING = frozenset("=@")

_PREAMBLE = """\
#!/usr/bin/env bash
# Replays one webhook saved by gosmee-trio with {client}: the exact body from the
# .json file next to this script and the headers it arrived with.
# Run with -h for the options.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

default_target={default_target}
local_target={local_target}
client={client_help}
client_flags=({flags})
verbose_flags=({verbose_flags})
"""

# Constant bash: it only reads the variables set in the preamble, so nothing from
# the event is ever part of this text.
_OPTIONS = r"""
usage() {
    cat <<EOF
Usage: ${0##*/} [-l|--local] [-t|--target URL] [-v|--verbose] [-h|--help] [URL]

Sends the saved webhook again, with ${client}.

Options:
  -l, --local         send to the local debug URL: ${local_target}
  -t, --target URL    send to URL instead of the default target
  -v, --verbose       show the whole exchange and trace this script
  -h, --help          show this help

A single URL argument works like -t URL.

Environment:
  GOSMEE_DEBUG_SERVICE  when set and not empty, send there; it wins over -t and
                        URL, and -l wins over it

Default target: ${default_target:-none, so give one}

Examples:
  ${0##*/}
  ${0##*/} -l
  ${0##*/} -t http://localhost:9000/hook
  ${0##*/} http://localhost:9000/hook
  GOSMEE_DEBUG_SERVICE=http://localhost:9000/hook ${0##*/}
EOF
}

use_local=false
verbose=false
target_url=$default_target
if ! options=$(getopt -o lt:vh -l local,target:,verbose,help \
    -n "${0##*/}" -- "$@"); then
    usage >&2
    exit 1
fi
# getopt quotes every word it prints, so this eval only re-splits them.
eval set -- "$options"
while true; do
    case $1 in
    -l | --local) use_local=true; shift ;;
    -t | --target) target_url=$2; shift 2 ;;
    -v | --verbose) verbose=true; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    *) printf '%s: unexpected option %s\n' "${0##*/}" "$1" >&2; exit 1 ;;
    esac
done
if (($# > 1)); then
    printf '%s: expected at most one URL, got %d arguments\n' "${0##*/}" "$#" >&2
    exit 1
fi
if (($# == 1)); then
    target_url=$1
fi
if [[ $use_local == true ]]; then
    target_url=$local_target
elif [[ -n ${GOSMEE_DEBUG_SERVICE:-} ]]; then
    target_url=$GOSMEE_DEBUG_SERVICE
fi
if [[ -z $target_url ]]; then
    printf '%s: no target URL: give one as URL, with -t URL or -l\n' "${0##*/}" >&2
    exit 1
fi

printf 'Replaying webhook to: %s\n' "$target_url"
if [[ $verbose == true ]]; then
    client_flags+=("${verbose_flags[@]}")
    set -x
fi

"""


@dataclass(frozen=True, slots=True)
class _Client:
    name: str
    help: str
    flags: str
    verbose_flags: str


_CURL = _Client("curl", "curl", "-sSi", "-v")
# --follow: upstream's HTTPie scripts follow redirects, curl's do not.
_HTTPIE = _Client(
    "HTTPie",
    "HTTPie, whose http command must be installed",
    "--follow --print=HhBb",
    "--verbose",
)

_DROPPED_NOTE = (
    "# NOTE: {count} header(s) left out: a name that is not an HTTP token, or a\n"
    "# value with a line break, a NUL or no UTF-8 form, cannot be sent as it arrived.\n"
)


def shell_quote(value: str) -> str:
    """``value`` as one single-quoted shell word; ``'`` becomes ``'\\''``."""
    return "'" + value.replace("'", "'\\''") + "'"


def curl_header_token(name: str, value: str) -> str:
    """The quoted argument for curl's ``-H``; ``Name;`` sends an empty value."""
    return shell_quote(f"{name}: {value}" if value else f"{name};")


def httpie_header_token(name: str, value: str) -> str:
    """The quoted HTTPie request item for one header; ``Name;`` sends it empty.

    NOTE: HTTPie's item syntax cannot say a backslash that stands right before
    ``:``, ``=``, ``@`` or ``;``; such a value arrives without that backslash.
    """
    if not value:
        return shell_quote(f"{name};")
    if value[0] in _HTTPIE_LEADING:
        value = "\\" + value
    return shell_quote(f"{name}:{value}")


def sendable_headers(event: IncomingEvent) -> tuple[list[tuple[str, str]], int]:
    """The headers a replay can send as they arrived, and how many were left out."""
    kept = [(name, value) for name, value in event.headers if _sendable(name, value)]
    return kept, len(event.headers) - len(kept)


def replay_script(
    event: IncomingEvent,
    *,
    base: str,
    default_target: str,
    local_debug_url: str,
    httpie: bool = False,
) -> str:
    """The bash script replaying ``event`` from ``<base>.json`` in its directory.

    Args:
        event: the event whose headers the script sends.
        base: file name of the body without ``.json``.
        default_target: where the script sends by default; empty means the user
            must give one.
        local_debug_url: where ``-l`` sends.
        httpie: use HTTPie's ``http`` instead of curl.
    """
    client = _HTTPIE if httpie else _CURL
    preamble = _PREAMBLE.format(
        client=client.name,
        default_target=shell_quote(default_target),
        local_target=shell_quote(local_debug_url),
        client_help=shell_quote(client.help),
        flags=client.flags,
        verbose_flags=client.verbose_flags,
    )

    kept, dropped = sendable_headers(event)
    headers = _with_content_type(kept, event.content_type)
    note = _DROPPED_NOTE.format(count=dropped) if dropped else ""
    command = _httpie_command(base, headers) if httpie else _curl_command(base, headers)
    return preamble + _OPTIONS + note + command


def _sendable(name: str, value: str) -> bool:
    if not _HEADER_NAME.fullmatch(name) or _UNSENDABLE_VALUE.search(value):
        return False
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate from the JSON: no bytes to send
        return False
    return True


def _with_content_type(
    headers: list[tuple[str, str]], content_type: str
) -> list[tuple[str, str | None]]:
    """``headers`` with exactly one Content-Type; ``None`` means "send none"."""
    if any(name.lower() == "content-type" for name, _ in headers):
        return [*headers]
    if content_type and _sendable("Content-Type", content_type):
        return [("Content-Type", content_type), *headers]
    # Both tools add a Content-Type of their own when given none (curl a form type,
    # HTTPie JSON); the target saw none, so the script removes it.
    return [("Content-Type", None), *headers]


def _curl_command(base: str, headers: list[tuple[str, str | None]]) -> str:
    lines = ['curl "${client_flags[@]}"']
    for name, value in headers:
        # "Name:" with nothing after it removes the header in curl.
        token = (
            shell_quote(f"{name}:") if value is None else curl_header_token(name, value)
        )
        lines.append(f"-H {token}")
    # --data-binary, unlike -d, keeps CR and LF: the body goes out byte for byte.
    lines.append(f"-X POST --data-binary {shell_quote(f'@./{base}.json')}")
    lines.append('--url "$target_url"')  # --url: never read as an option
    return " \\\n    ".join(lines) + "\n"


def _httpie_command(base: str, headers: list[tuple[str, str | None]]) -> str:
    # "--" ends HTTPie's options, so no URL is ever read as one.
    lines = ['http "${client_flags[@]}" -- POST "$target_url"']
    for name, value in headers:
        # "Name:" with nothing after it unsets the header in HTTPie.
        token = (
            shell_quote(f"{name}:")
            if value is None
            else httpie_header_token(name, value)
        )
        lines.append(token)
    # The body comes from stdin, which HTTPie sends as raw bytes, never re-encoded.
    lines.append(f"< {shell_quote(f'./{base}.json')}")
    return " \\\n    ".join(lines) + "\n"
