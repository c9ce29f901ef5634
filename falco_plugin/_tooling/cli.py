"""The ``falco-plugin`` command.

    falco-plugin build examples/dummy/dummy_plugin.py:DummyPlugin -o libdummy_py.so
    falco-plugin package examples/dummy/dummy_plugin.py:DummyPlugin -o dist
    falco-plugin info libdummy_py.so
    falco-plugin run libdummy_py.so --open-params '{"maxEvents": 5}'
    falco-plugin events capture.scap --json -n 10
    falco-plugin falco libdummy_py.so --rules dummy_rules.yaml --open-params '{"maxEvents": 5}'
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]

CAPABILITY_TITLES = {
    "sourcing": "Event Sourcing",
    "extraction": "Field Extraction",
    "parsing": "Event Parsing",
    "async": "Async Events",
    "capture_listening": "Capture Listening",
}


class _PluginSpecAction(argparse.Action):
    """``--plugin LIB`` starts another plugin spec; ``--plugin-config``/``--plugin-open-params`` amend it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        specs: list[dict[str, str]] = getattr(namespace, "extra_plugins", None) or []
        if option_string == "--plugin":
            specs.append({"path": str(values)})
        elif not specs:
            parser.error(f"{option_string} must follow --plugin")
        else:
            key = "config" if option_string == "--plugin-config" else "open_params"
            specs[-1][key] = str(values)
        namespace.extra_plugins = specs


def _cmd_build(args: argparse.Namespace) -> int:
    from .build import BuildError, build

    try:
        out, spec = build(args.target, args.output, shlex.split(args.cflags or ""))
    except BuildError as exc:
        print(f"falco-plugin build: error: {exc}", file=sys.stderr)
        return 1
    print(f"built {out} (plugin {spec.name} {spec.version}; {', '.join(spec.capabilities)}; "
          f"API {spec.required_api_version}; Python {sys.executable})")
    return 0


def _cmd_package(args: argparse.Namespace) -> int:
    from .package import Options, PackageError, package

    opts = Options(requirements=args.requirements, dev=args.dev, name=args.name or "", registry=args.registry or "",
                   repository=args.repository or "", license=args.license or "", maintainers=args.maintainer or [],
                   home=args.home or "", sources=args.source or [], keywords=args.keyword or [],
                   pyproject=args.pyproject)
    try:
        result = package(args.targets, args.output, options=opts)
    except PackageError as exc:
        print(f"falco-plugin package: error: {exc}", file=sys.stderr)
        return 1
    m = result.manifest
    size = result.tarball.stat().st_size
    plugins = ", ".join(f"{p['name']} {p['version']}" for p in m["plugins"])
    print(f"packaged {result.tarball} ({size / 2**20:.1f} MiB; plugins {plugins}; Python {m['python']['version']}; "
          f"{len(m['libraries'])} libraries bundled; "
          f"{', '.join(f'{k} {v}' for k, v in m['distributions'].items())})")
    written = [str(p) for p in (result.falco_yaml, result.index_yaml, result.values_yaml) if p]
    print(f"wrote {', '.join(written)}")
    if result.missing:
        print("not written: the falcoctl index entry and the Helm values, which need:\n  "
              + "\n  ".join(result.missing), file=sys.stderr)
    print(format_shipping(m))
    return 0


def format_shipping(manifest: dict[str, Any]) -> str:
    """What ``package`` and ``info`` say about a packaged plugin: requirements and Falco metadata."""
    plat = manifest["platform"]
    falco = manifest["falco"]
    libs = ", ".join(lib["soname"] for lib in manifest.get("libraries", [])) or "none"
    lines = [
        f"Packaged: Python {manifest['python']['version']} bundled; needs glibc >= {plat['min_glibc']} "
        f"({plat['arch']}) and nothing else; libraries bundled: {libs}",
        "falco.yaml:",
        *("  " + line for line in falco["falco_yaml"].splitlines()),
    ]
    if falco.get("falcoctl_push"):
        lines += ["falcoctl:", *("  " + line for line in falco["falcoctl_push"].splitlines())]
    if falco.get("index_yaml"):
        lines += ["index.yaml entry:", *("  " + line for line in falco["index_yaml"].splitlines())]
    return "\n".join(lines)


def library_path(path: str) -> str:
    """A plugin path as the host's dlopen needs it: ``libx.so`` in the current directory is
    ``./libx.so`` (a bare name would be searched in the system's library path).

    >>> library_path("/abs/libx.so")
    '/abs/libx.so'
    """
    return f"./{path}" if "/" not in path and Path(path).is_file() else path


def event_types(codes: list[int] | None) -> list[dict[str, Any]] | None:
    """Event codes with their names (``PPME_SYSCALL_OPEN_X``) and libs names (``open``)."""
    if codes is None:
        return None
    from ..event import event_class

    named = []
    for code in codes:
        try:
            cls = event_class(code)
            named.append({"code": code, "name": cls.PPME, "event": cls.NAME})
        except Exception:
            named.append({"code": code, "name": None, "event": None})
    return named


def host_info(path: str) -> tuple[dict[str, Any] | None, str]:
    """What a host sees of a plugin library, without starting Python; (info, error text).

    For an SDK plugin, the event types it extracts from and parses (which a host learns only
    after ``init``) come from the metadata ``falco-plugin build`` stored in the library."""
    from .build import read_meta
    from .host import run_host

    proc = run_host(["info", library_path(path)])
    if proc.returncode != 0:
        return None, proc.stderr.strip()
    info: dict[str, Any] = json.loads(proc.stdout)
    meta = read_meta(info["path"])
    if meta is not None:
        info["extract_event_types"] = event_types(meta.get("extract_event_types"))
        info["parse_event_types"] = event_types(meta.get("parse_event_types"))
    return info, ""


def _types_text(types: list[dict[str, Any]] | None) -> str:
    if types is None:
        return "unknown (asked after init)"
    if not types:
        return "none declared (the host's default: plugin events, 322)"
    return ", ".join(f"{t['name']} ({t['code']})" if t["name"] else str(t["code"]) for t in types)


def _sources_text(sources: list[str] | None, default: str) -> str:
    return ", ".join(sources) if sources else default


def format_info(info: dict[str, Any]) -> str:
    """The ``falco --plugin-info`` style text of a plugin."""
    lines = [
        f"Name: {info['name']}",
        f"Description: {info['description']}",
        f"Contact: {info['contact']}",
        f"Version: {info['version']}",
        f"Required API version: {info['required_api_version']}",
        "Capabilities:",
    ]
    for cap in info.get("capabilities", []):
        title = CAPABILITY_TITLES.get(cap, cap)
        if cap == "sourcing":
            title += f" (ID={info.get('id')}, source='{info.get('event_source')}')"
        lines.append(f"  - {title}")
        own = info.get("event_source") or ""
        if cap == "extraction":
            lines.append(f"    sources: {_sources_text(info.get('extract_event_sources'), own or 'all')}")
            if "extract_event_types" in info:
                lines.append(f"    event types: {_types_text(info['extract_event_types'])}")
            lines.append("    fields:")
            for field in info.get("fields") or []:
                arg = field.get("arg") or {}
                suffix = "[index]" if arg.get("isIndex") else "[key]" if arg.get("isKey") else ""
                kind = f"{field['type']}{', list' if field.get('isList') else ''}"
                lines.append(f"      {field['name']}{suffix} ({kind}): {field.get('desc', '')}")
        elif cap == "parsing":
            lines.append(f"    sources: {_sources_text(info.get('parse_event_sources'), own or 'all')}")
            if "parse_event_types" in info:
                lines.append(f"    event types: {_types_text(info['parse_event_types'])}")
        elif cap == "async":
            lines.append(f"    events: {', '.join(info.get('async_events') or []) or 'none'}")
            lines.append(f"    into sources: {_sources_text(info.get('async_event_sources'), 'all')}")
    lines.append(f"Symbols: {', '.join(info.get('symbols') or [])}")
    schema = info.get("init_schema")
    lines.append(f"Init config schema type: {'JSON' if schema else 'none'}")
    if schema:
        lines.append(json.dumps(schema, indent=2))
    return "\n".join(lines)


def _cmd_info(args: argparse.Namespace) -> int:
    info, error = host_info(library_path(args.library))
    if info is None:
        print(f"falco-plugin info: {error}", file=sys.stderr)
        return 2
    from .package import manifest_of

    manifest = manifest_of(args.library)
    if args.json:
        if manifest is not None:
            info["package"] = {k: manifest[k] for k in ("python", "distributions", "platform", "falco")}
        print(json.dumps(info, indent=2))
    else:
        print(format_info(info))
        if manifest is not None:
            print(format_shipping(manifest))
    return 0


def host_run_args(args: argparse.Namespace) -> list[str]:
    """Translate ``falco-plugin run`` / ``replay`` options into the host's command line."""
    argv = [args.command]
    if args.command == "replay":
        argv += ["--capture", args.capture]
    if args.dump_state_every:
        argv += ["--dump-state-every", str(args.dump_state_every)]
    for flag in ("dump_tables", "metrics", "dump_state", "offsets"):
        if getattr(args, flag, False):
            argv.append("--" + flag.replace("_", "-"))
    if args.max_events is not None:
        argv += ["-n", str(args.max_events)]
    if args.json:
        argv.append("--json")
    if args.fields:
        argv += ["--fields", args.fields]
    if getattr(args, "duration", None) is not None:
        argv += ["--duration", str(args.duration)]
    if args.engine_schema_version:
        argv += ["--engine-schema-version", args.engine_schema_version]
    specs: list[dict[str, Any]] = list(getattr(args, "falco_plugins", None) or [])
    if args.library:
        specs.append({"path": args.library, "config": args.config, "open_params": getattr(args, "open_params", None)})
    for extra in getattr(args, "extra_plugins", None) or []:
        specs.append(extra)
    for spec in specs:
        argv += ["-p", library_path(spec["path"])]
        if spec.get("config") is not None:
            argv += ["-c", spec["config"]]
        if spec.get("open_params") is not None:
            argv += ["-o", spec["open_params"]]
    return argv


def falco_config_specs(plugins: list[Any]) -> list[dict[str, Any]]:
    """Host plugin specs (path, config, open_params) of the FalcoPlugin entries of a falco.yaml."""
    return [{"path": p.library_path, "config": p.init_config, "open_params": p.open_params or None} for p in plugins]


def _cmd_run(args: argparse.Namespace) -> int:
    import subprocess

    from .host import host_binary

    if getattr(args, "falco_config", None):
        from .shipping import FalcoConfigError, read_falco_config

        try:
            plugins = read_falco_config(args.falco_config, args.plugins_dir)
        except FalcoConfigError as exc:
            print(f"falco-plugin run: {exc}", file=sys.stderr)
            return 2
        if not plugins:
            print(f"falco-plugin run: {args.falco_config} loads no plugin", file=sys.stderr)
            return 2
        args.falco_plugins = falco_config_specs(plugins)
    elif not args.library:
        print("falco-plugin run: name a plugin LIBRARY or --falco-config FILE", file=sys.stderr)
        return 2
    if args.library:
        args.library = library_path(args.library)
    if getattr(args, "capture", None):
        args.capture = os.path.abspath(args.capture)
    for spec in getattr(args, "extra_plugins", None) or []:
        spec["path"] = library_path(spec["path"])
    return subprocess.call([str(host_binary()), *host_run_args(args)])


def _cmd_falco(args: argparse.Namespace) -> int:
    from .falco import FalcoNotFound, check_docker, find_falco, plugin_spec, run_interactive

    configs, params = args.config or [], args.open_params or []
    if len(configs) > len(args.libraries) or len(params) > len(args.libraries):
        print("falco-plugin falco: error: more --config/--open-params than libraries (the i-th goes to the "
              "i-th library)", file=sys.stderr)
        return 2
    try:
        falco = None if args.docker else find_falco(args.falco)
        if args.docker:
            check_docker(args.docker)
        specs = [plugin_spec(library_path(lib), configs[i] if i < len(configs) else None,
                             params[i] if i < len(params) else None)
                 for i, lib in enumerate(args.libraries)]
        return run_interactive(specs, args.rules, falco=falco, docker=args.docker, json_output=args.json,
                               watch=not args.no_watch, extra=args.falco_args)
    except (FalcoNotFound, ValueError, FileNotFoundError) as exc:
        print(f"falco-plugin falco: {exc}", file=sys.stderr)
        return 2


def _cmd_new(args: argparse.Namespace) -> int:
    from .scaffold import ScaffoldError, new_project

    caps = [c.strip() for c in args.capabilities.split(",") if c.strip()]
    try:
        root = new_project(args.name, caps, Path(args.directory) if args.directory else None)
    except ScaffoldError as exc:
        print(f"falco-plugin new: error: {exc}", file=sys.stderr)
        return 2
    cd = "" if root.resolve() == Path.cwd().resolve() else f"cd {root} && "
    print(f"created {root}/ (plugin {args.name}: {', '.join(caps)}); next: {cd}make test lint")
    return 0


def _cmd_events(args: argparse.Namespace, rest: list[str]) -> int:
    from ..event.cli import events_main

    return events_main(rest)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("falco-plugin")
    except PackageNotFoundError:
        return "unknown (not installed)"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="falco-plugin", description="Write Falco plugins in Python.")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="build a plugin class into a plugin .so")
    b.add_argument("target", help="MODULE:CLASS or path/to/file.py:CLASS")
    b.add_argument("-o", "--output", help="output path (default: lib<NAME>.so)")
    b.add_argument("--cflags", help="extra C compiler flags, e.g. '-fsanitize=address,undefined -g' "
                   "(also from $FALCO_PLUGIN_CFLAGS)")

    k = sub.add_parser("package", help="package plugin classes and one Python for them into a self-contained tarball")
    k.add_argument("targets", nargs="+", metavar="target", help="MODULE:CLASS or path/to/file.py:CLASS (several: "
                   "one tarball, one runtime, one .so each)")
    k.add_argument("-o", "--output", default=".", help="output directory (default: .)")
    k.add_argument("-r", "--requirements", help="file of distributions to ship besides the import closure "
                   "(one requirement a line, installed in this environment)")
    k.add_argument("--dev", action="store_true", help="allow PLUGIN_ID 999 (reserved for development)")
    k.add_argument("--name", help="the bundle's name with several plugins (default: their names joined by '-')")
    meta = k.add_argument_group("falcoctl metadata (default: the plugin project's pyproject.toml [project])")
    meta.add_argument("--registry", help="OCI registry of the artifacts, e.g. ghcr.io")
    meta.add_argument("--repository", help="repository prefix: the artifact is REGISTRY/REPOSITORY/NAME:VERSION")
    meta.add_argument("--license", help="SPDX licence (default: [project] license)")
    meta.add_argument("--maintainer", action="append", help="'Name <email>', repeatable (default: [project] authors)")
    meta.add_argument("--home", help="home page (default: [project.urls] Homepage)")
    meta.add_argument("--source", action="append", help="source URL, repeatable (default: [project.urls] Repository)")
    meta.add_argument("--keyword", action="append", help="index keyword, repeatable (added to [project] keywords)")
    meta.add_argument("--pyproject", help="the pyproject.toml to read (default: the nearest above the plugin)")

    i = sub.add_parser("info", help="show what a host sees of a plugin .so (does not start Python)")
    i.add_argument("library")
    i.add_argument("--json", action="store_true", help="machine-readable output")

    r = sub.add_parser("run", help="run a plugin .so in a libsinsp-like host and print its events")
    x = sub.add_parser("replay", help="feed a scap capture through plugins that parse and extract")
    x.add_argument("capture", help="a .scap file (plain or gzip)")
    r.add_argument("--falco-config", metavar="FILE", help="load the plugins of a falco.yaml (plugins, load_plugins, "
                   "init_config and open_params read as Falco reads them) instead of LIBRARY")
    r.add_argument("--plugins-dir", default="/usr/share/falco/plugins",
                   help="where relative library_path values of --falco-config are (Falco's default)")
    for cmd in (r, x):
        cmd.add_argument("library", nargs="?" if cmd is r else None)
        cmd.add_argument("--config", help="init config (JSON for plugins with a config model)")
        if cmd is r:
            cmd.add_argument("--open-params", help="open parameters")
            cmd.add_argument("--duration", type=float, help="stop after this many seconds")
        cmd.add_argument("-n", dest="max_events", type=int, help="stop after N events")
        cmd.add_argument("--json", action="store_true", help="one JSON object per event")
        cmd.add_argument("--fields", help="fields to extract, e.g. dummy.value,dummy.divisible[3]")
        cmd.add_argument("--dump-tables", action="store_true", help="print every state table at the end")
        cmd.add_argument("--metrics", action="store_true", help="print the plugins' metrics at the end")
        cmd.add_argument("--offsets", action="store_true",
                         help="ask for value offsets (where each field value lies in the event)")
        cmd.add_argument("--dump-state", action="store_true",
                         help="call the plugins' dump_state at the end, as a capture dump would")
        cmd.add_argument("--dump-state-every", type=int, metavar="N", help="call dump_state every N events")
        cmd.add_argument("--engine-schema-version", metavar="M.m.p",
                         help="check the plugins' required event schema version as a driver of this one would")
        cmd.add_argument("--plugin", action=_PluginSpecAction, help="load another plugin .so beside it")
        cmd.add_argument("--plugin-config", action=_PluginSpecAction, help="init config of the last --plugin")
        if cmd is r:
            cmd.add_argument("--plugin-open-params", action=_PluginSpecAction,
                             help="open params of the last --plugin")

    sub.add_parser("events", help="print the events of a scap capture file", add_help=False)

    f = sub.add_parser("falco", help="run plugin .so files in a real Falco with rules, print its alerts",
                       usage="falco-plugin falco LIB.so [LIB.so ...] --rules FILE [options] [-- FALCO_ARGS]",
                       description="Run plugin libraries in a real Falco (found with --falco, then $FALCO, then "
                       "`falco` on PATH; or --docker IMAGE) with a falco.yaml written for them: the nodriver "
                       "engine, the plugins, the rules, alerts on stdout. Falco's exit code is passed on; "
                       "arguments after -- go to Falco (e.g. -- -M 10 to stop after 10 s).")
    f.add_argument("libraries", nargs="+", metavar="LIB.so", help="plugin libraries (a bare name is in the "
                   "current directory)")
    f.add_argument("--rules", "-r", action="append", required=True, metavar="FILE", help="a rules file (repeatable)")
    f.add_argument("--config", action="append", metavar="JSON",
                   help="init config; repeat for each library, in order (the first goes to the first library)")
    f.add_argument("--open-params", action="append", metavar="P",
                   help="open params; repeat for each library, in order")
    f.add_argument("--falco", metavar="PATH", help="the Falco binary (default: $FALCO, then falco on PATH)")
    f.add_argument("--docker", metavar="IMAGE", help="run Falco in this container image (e.g. "
                   "falcosecurity/falco:latest) with Docker")
    f.add_argument("--json", action="store_true", help="alerts as JSON lines (json_output)")
    f.add_argument("--no-watch", action="store_true",
                   help="do not restart Falco when a rules file changes (watch_config_files: false)")

    n = sub.add_parser("new", help="create a plugin project (plugin, tests, Makefile, falco.yaml, rules)")
    n.add_argument("name", help="the plugin's name (lowercase, e.g. myplugin)")
    n.add_argument("--capabilities", default="source,extract",
                   help="comma-separated: source,extract,parse,async,listen (default: source,extract)")
    n.add_argument("-o", "--directory", help="where to create it (default: ./NAME)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["events"]:
        return _cmd_events(argparse.Namespace(), argv[1:])
    falco_args: list[str] = []
    if argv[:1] == ["falco"] and "--" in argv:  # what follows -- is Falco's, whatever it looks like
        cut = argv.index("--")
        argv, falco_args = argv[:cut], argv[cut + 1:]
    args = parser().parse_args(argv)
    args.falco_args = falco_args
    commands = {"build": _cmd_build, "package": _cmd_package, "info": _cmd_info, "run": _cmd_run, "replay": _cmd_run,
                "new": _cmd_new, "falco": _cmd_falco}
    try:
        return commands[args.command](args)
    except BrokenPipeError:  # `falco-plugin info x.so | head`: the reader left, not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
