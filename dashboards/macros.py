"""Grafana's PostgreSQL query interpolation, reimplemented so panel SQL can be run in tests without Grafana.

Two stages, in Grafana's order:
1. the frontend's template variables (`$var`, `${var}`, `${var:fmt}`, `[[var]]`) and the global
   `$__interval`, `$__interval_ms`, `$__range*`, `$__unixEpochFrom()`/`To()`;
2. the backend's macros (`$__timeFilter(col)`, `$__timeGroup(col, 5m[, fill])`, ...) exactly as
   pkg/tsdb/grafana-postgresql-datasource/macros.go writes them (including its 5.3-compat rule that a
   `$__timeGroup(...)` directly followed by a comma gets the `AS "time"` alias).

Multi-value and include-All variables are quoted the way Grafana's SQL datasources do (`'a','b'`, single
quotes doubled), which is the only spelling these dashboards use; `${var:csv}` is Grafana's unquoted csv
and must not be used for values a user can type.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal

ALL = "$__all"

_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?::([^}]+))?\}")
_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^)]*)\)")
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_FILL = re.compile(r"^(NULL|previous|-?\d+(\.\d+)?)$")


def quote_literal(value: str) -> str:
    """A PostgreSQL string literal (standard_conforming_strings is on by default since 9.1)."""
    return "'" + value.replace("'", "''") + "'"


def rfc3339nano(ts: datetime) -> str:
    """Go's time.RFC3339Nano of ts in UTC: fraction without trailing zeros, `Z` suffix."""
    if ts.tzinfo is None:
        raise ValueError("time range bounds must be timezone-aware")
    utc = ts.astimezone(UTC)
    frac = f"{utc.microsecond:06d}".rstrip("0")
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def format_interval(seconds: float) -> str:
    """gtime.FormatInterval: the largest whole unit (`1d`, `2h`, `5m`, `30s`, `250ms`)."""
    ms = int(round(seconds * 1000))
    for unit, size in (("y", 365 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size:
            return f"{ms // size}{unit}"
    return f"{ms}ms" if ms >= 1 else "1ms"


def parse_interval(text: str) -> float:
    """gtime.ParseInterval, in seconds: `5d`/`2w` or a Go duration such as `1m30s`, `500ms`."""
    text = text.strip()
    match = re.fullmatch(r"(\d+)([dw])", text)
    if match:
        return int(match.group(1)) * (86_400 if match.group(2) == "d" else 604_800)
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"error parsing interval {text!r}")
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def go_float(value: float) -> str:
    """Go's `%v` of a float64, which is how Grafana prints interval seconds: shortest round-trip digits,
    exponent form when the decimal exponent is < -4 or >= 6 (60 -> `60`, 0.5 -> `0.5`, 1e6 -> `1e+06`)."""
    if value == 0:
        return "0"
    d = Decimal(repr(abs(value))).normalize()  # Python's repr is also the shortest round-trip form
    exponent = d.adjusted()
    sign = "-" if value < 0 else ""
    if exponent < -4 or exponent >= 6:
        digits = "".join(map(str, d.as_tuple().digits))
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"
    return sign + format(d, "f")


def _format_values(name: str, values: Sequence[str], fmt: str | None) -> str:
    if fmt in (None, "sqlstring"):
        return ",".join(quote_literal(v) for v in values)
    if fmt == "csv":
        return ",".join(values)
    if fmt == "raw":
        return ",".join(values)
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)
    if fmt == "pipe":
        return "|".join(values)
    raise ValueError(f"variable {name}: unsupported format {fmt!r}")


def interpolate_variables(sql: str, variables: Mapping[str, Sequence[str]],
                          all_values: Mapping[str, Sequence[str]] | None = None) -> str:
    """Stage 1 for the dashboard's own variables; names it does not know are left as they are (as Grafana does)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(5)
        if name not in variables:
            return match.group(0)
        values = list(variables[name])
        if ALL in values:
            if all_values is None or name not in all_values:
                raise ValueError(f"variable {name} is set to All; pass its options in all_values")
            values = list(all_values[name])
        if not values:
            raise ValueError(f"variable {name} has no value (Grafana would send '' and the SQL would fail)")
        return _format_values(name, values, fmt)

    return _VARIABLE.sub(replace, sql)


def expand_macros(sql: str, *, time_from: datetime, time_to: datetime, interval_s: float,
                  variables: Mapping[str, Sequence[str]], all_values: Mapping[str, Sequence[str]] | None = None,
                  timescaledb: bool = False) -> str:
    """The SQL Grafana would send to PostgreSQL for this panel query, time range, interval and variables.

    `variables` maps a name to its selected values; `["$__all"]` (All) stands for every value listed in
    `all_values[name]`, as Grafana substitutes all options of the variable. `timescaledb` mirrors the
    datasource's TimescaleDB toggle ($__timeGroup becomes time_bucket()).
    """
    if time_to < time_from:
        raise ValueError("time_to is before time_from")
    range_s = (time_to - time_from).total_seconds()
    interval_ms = int(round(interval_s * 1000))
    # Stage 1: globals, then the dashboard's variables (longest names first so $__interval_ms wins).
    text = sql.replace("$__interval_ms", str(interval_ms)).replace("${__interval_ms}", str(interval_ms))
    interval = format_interval(interval_s)
    text = text.replace("${__interval}", interval).replace("$__interval", interval)
    text = text.replace("$__range_ms", str(int(range_s * 1000))).replace("$__range_s", str(int(range_s)))
    text = text.replace("$__range", format_interval(range_s))
    text = text.replace("$__unixEpochFrom()", str(int(time_from.timestamp())))
    text = text.replace("$__unixEpochTo()", str(int(time_to.timestamp())))
    text = interpolate_variables(text, variables, all_values)

    # Stage 2: the backend macro engine.
    error: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name, raw_args = match.group(1), match.group(2)
        if name == "__timeGroup":
            end = match.end()
            if end < len(match.string) and match.string[end] == ",":
                name = "__timeGroupAlias"
        args = [a.strip(" ") for a in raw_args.split(",")]
        try:
            return _evaluate(name, args, time_from, time_to, timescaledb)
        except ValueError as exc:
            error.append(str(exc))
            return "macro_error()"

    text = _MACRO.sub(replace, text)
    if error:
        raise ValueError(error[0])
    return text


def _evaluate(name: str, args: list[str], time_from: datetime, time_to: datetime, timescaledb: bool) -> str:
    has_column = bool(args and args[0])
    if name in ("__time", "__timeEpoch", "__timeFilter", "__unixEpochFilter", "__unixEpochNanoFilter") \
            and not has_column:
        raise ValueError(f"missing time column argument for macro {name}")
    match name:
        case "__time":
            return f'{args[0]} AS "time"'
        case "__timeEpoch":
            return f'extract(epoch from {args[0]}) as "time"'
        case "__timeFilter":
            return f"{args[0]} BETWEEN '{rfc3339nano(time_from)}' AND '{rfc3339nano(time_to)}'"
        case "__timeFrom":
            return f"'{rfc3339nano(time_from)}'"
        case "__timeTo":
            return f"'{rfc3339nano(time_to)}'"
        case "__timeGroup" | "__unixEpochGroup":
            if len(args) < 2:
                raise ValueError(f"macro {name} needs time column and interval and optional fill value")
            try:
                seconds = parse_interval(args[1].strip("'"))
            except ValueError:
                raise ValueError(f"error parsing interval {args[1]}") from None
            if len(args) == 3 and not _FILL.match(args[2]):
                raise ValueError(f"error parsing fill value {args[2]}")
            if name == "__unixEpochGroup":
                return f"floor(({args[0]})/{go_float(seconds)})*{go_float(seconds)}"
            if timescaledb:
                return f"time_bucket('{seconds:.3f}s',{args[0]})"
            return f"floor(extract(epoch from {args[0]})/{go_float(seconds)})*{go_float(seconds)}"
        case "__timeGroupAlias" | "__unixEpochGroupAlias":
            return _evaluate(name.removesuffix("Alias"), args, time_from, time_to, timescaledb) + ' AS "time"'
        case "__unixEpochFilter":
            return f"{args[0]} >= {int(time_from.timestamp())} AND {args[0]} <= {int(time_to.timestamp())}"
        case "__unixEpochNanoFilter":
            return f"{args[0]} >= {_nanos(time_from)} AND {args[0]} <= {_nanos(time_to)}"
        case "__unixEpochNanoFrom":
            return str(_nanos(time_from))
        case "__unixEpochNanoTo":
            return str(_nanos(time_to))
        case _:
            raise ValueError(f'unknown macro "{name}"')


def _nanos(ts: datetime) -> int:
    return int(ts.timestamp()) * 1_000_000_000 + ts.microsecond * 1000


# -- Prometheus -----------------------------------------------------------------------------------------
_PROM_SPECIAL = re.compile(r"[$^*{}\[\]'+?.()|]")


def prom_regex_escape(value: str) -> str:
    """Grafana's prometheusSpecialRegexEscape: a value made literal inside a `=~"..."` regex string."""
    return _PROM_SPECIAL.sub(lambda m: "\\\\" + m.group(0), value.replace("\\", "\\\\\\\\"))


def expand_prom(expr: str, *, variables: Mapping[str, Sequence[str]], all_values: Mapping[str, str],
                range_s: int, rate_interval_s: int) -> str:
    """Grafana's Prometheus interpolation of the variables these dashboards use: a multi-value variable becomes
    `(a|b)` of escaped values, All becomes the variable's allValue; `$__range` and `$__rate_interval` are
    durations in seconds. An unknown `$name` is left as it is (and fails in Prometheus, as in Grafana)."""
    def value(name: str) -> str | None:
        if name == "__range":
            return f"{range_s}s"
        if name == "__rate_interval":
            return f"{rate_interval_s}s"
        if name not in variables:
            return None
        chosen = list(variables[name])
        if chosen == [ALL]:
            return all_values[name]
        escaped = [prom_regex_escape(v) for v in chosen]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"

    def sub(m: re.Match[str]) -> str:
        name = next(g for g in (m.group(1), m.group(2), m.group(4)) if g)
        out = value(name)
        return m.group(0) if out is None else out

    return _VARIABLE.sub(sub, expr)
