"""Prepare the offline wheelhouse for a GPU machine that has no network (``make gpu-wheels``).

Downloads every pin of ``requirements/lock-gpu.txt`` without dependencies, for the GPU machine's Python
(``--python-version``, default 3.12, x86_64 Linux), builds the project's wheel next to them, then checks the
set before it travels:

* pip's resolver, offline against the wheelhouse only, finds one compatible wheel for every pin and for the
  project (``pip install --dry-run --no-index --ignore-installed`` for the target Python);
* every requirement that each wheel declares (its ``Requires-Dist``, markers evaluated for the target
  Python on Linux) is met by a pin or by a package the lock file lists as provided by the GPU machine;
* the wheelhouse stays within ``--max-mib``.

A ``manifest.json`` in the wheelhouse lists the wheels, their sizes and the check's result.

    python tools/benchmark/gpu_wheels.py wheelhouse
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
import zipfile
from email.parser import Parser

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LOCK = osp.join(REPO, 'requirements', 'lock-gpu.txt')
PLATFORMS = ('manylinux_2_28_x86_64', 'manylinux_2_17_x86_64', 'manylinux2014_x86_64', 'manylinux2010_x86_64',
             'manylinux1_x86_64', 'linux_x86_64', 'any')


class WheelhouseError(RuntimeError):
    pass


def read_lock(path=LOCK):
    """Pins ``{name: version}`` and provided packages ``{name: version or None}`` (aliases included)."""
    pins, provided = {}, {}
    with open(path) as f:
        for number, raw in enumerate(f, 1):
            line = raw.strip()
            if line.startswith('# provided:'):
                words = line[len('# provided:'):].split()
                if not words:
                    raise WheelhouseError(f'{path}:{number}: "# provided:" names no package')
                name, _, version = words[0].partition('==')
                names = [name] + (words[2:] if len(words) > 2 and words[1] == 'as' else [])
                for alias in names:
                    provided[canonicalize_name(alias)] = version or None
                continue
            if not line or line.startswith('#'):
                continue
            match = re.fullmatch(r'([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)', line)
            if not match:
                raise WheelhouseError(f'{path}:{number}: expected "name==version", got "{line}"')
            pins[canonicalize_name(match.group(1))] = match.group(2)
    if not pins:
        raise WheelhouseError(f'{path}: no "name==version" pins')
    return pins, provided


def target_args(python_version):
    args = ['--only-binary=:all:', '--python-version', python_version, '--implementation', 'cp']
    for platform in PLATFORMS:
        args += ['--platform', platform]
    return args


def pip(*args, quiet=True):
    cmd = [sys.executable, '-m', 'pip', *args] + (['-q'] if quiet else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise WheelhouseError(f'{" ".join(cmd[2:5])} ... failed:\n{(proc.stdout + proc.stderr)[-3000:]}')
    return proc


def wheels_in(folder):
    """``{canonical name: (version, filename)}``; two versions of one package is an error."""
    found = {}
    for filename in sorted(os.listdir(folder)):
        if not filename.endswith('.whl'):
            continue
        name, version, _, _ = parse_wheel_filename(filename)
        if name in found and found[name][0] != version:
            raise WheelhouseError(f'{folder}: two versions of {name} ({found[name][1]}, {filename}); remove one')
        found[name] = (version, filename)
    return found


def requires(path):
    with zipfile.ZipFile(path) as whl:
        meta = next(n for n in whl.namelist() if n.endswith('.dist-info/METADATA'))
        message = Parser().parsestr(whl.read(meta).decode())
    return message.get_all('Requires-Dist') or []


def check_requirements(folder, wheels, provided, python_version):
    """Unmet declared requirements, as ``["wheel: requirement"]``."""
    env = dict(default_environment(), python_version=python_version, python_full_version=f'{python_version}.0',
               sys_platform='linux', platform_system='Linux', platform_machine='x86_64', extra='')
    problems = []
    for name, (version, filename) in wheels.items():
        for text in requires(osp.join(folder, filename)):
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            dep = canonicalize_name(req.name)
            if dep in wheels:
                if not req.specifier.contains(Version(str(wheels[dep][0])), prereleases=True):
                    problems.append(f'{filename}: {text} (wheelhouse has {wheels[dep][0]})')
            elif dep in provided:
                pinned = provided[dep]
                if pinned and not req.specifier.contains(Version(pinned), prereleases=True):
                    problems.append(f'{filename}: {text} (the GPU machine provides {pinned})')
            else:
                problems.append(f'{filename}: {text} (neither in the wheelhouse nor provided)')
    return problems


def build(folder, python_version='3.12', max_mib=60.0, lock=LOCK):
    pins, provided = read_lock(lock)
    os.makedirs(folder, exist_ok=True)
    present = wheels_in(folder)
    stale = [f for n, (v, f) in present.items() if n != 'm33d-mm' and (n not in pins or str(v) != pins[n])]
    for filename in stale:  # an older pin would leave two versions of a package
        os.remove(osp.join(folder, filename))
    missing = [f'{n}=={v}' for n, v in pins.items() if n not in present or str(present[n][0]) != v]
    if missing:
        pip('download', '--no-deps', '-d', folder, *target_args(python_version), *missing)
    for name, (_, filename) in wheels_in(folder).items():
        if name == 'm33d-mm':
            os.remove(osp.join(folder, filename))
    pip('wheel', '--no-deps', '--no-build-isolation', '-w', folder, REPO)
    wheels = wheels_in(folder)
    absent = sorted(set(pins) - set(wheels))
    if absent:
        raise WheelhouseError(f'{folder}: no wheel for {absent} after download')
    project = wheels['m33d-mm'][1]

    # pip's resolver, offline, for the target interpreter: one compatible wheel per pin
    report = osp.join(folder, 'resolve-report.json')
    pip('install', '--dry-run', '--ignore-installed', '--no-index', '--no-deps', '--find-links', folder,
        '--target', osp.join(folder, '.dry-run-target'), *target_args(python_version), '--report', report,
        '-r', lock, osp.join(folder, project))
    with open(report) as f:
        resolved = {canonicalize_name(i['metadata']['name']): i['metadata']['version'] for i in json.load(f)['install']}
    os.remove(report)
    if set(resolved) != set(pins) | {'m33d-mm'}:
        raise WheelhouseError(f'resolver chose {sorted(resolved)}, expected the pins and m33d-mm')

    problems = check_requirements(folder, wheels, provided, python_version)
    if problems:
        raise WheelhouseError('unmet requirements:\n  ' + '\n  '.join(problems))
    sizes = {f: osp.getsize(osp.join(folder, f)) for _, f in wheels.values()}
    total = sum(sizes.values()) / 2**20
    if total > max_mib:
        raise WheelhouseError(f'{folder}: {total:.1f} MiB of wheels, more than --max-mib {max_mib}')
    manifest = dict(python_version=python_version, lock=osp.relpath(lock, REPO), project_wheel=project,
                    total_mib=round(total, 2), wheels=sizes, resolved=resolved, provided=sorted(provided))
    with open(osp.join(folder, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=2)
    return manifest


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('folder', nargs='?', default=osp.join(REPO, 'wheelhouse'))
    parser.add_argument('--python-version', default='3.12', help="the GPU machine's Python (major.minor)")
    parser.add_argument('--max-mib', type=float, default=60.0)
    parser.add_argument('--lock', default=LOCK)
    args = parser.parse_args()
    try:
        manifest = build(args.folder, args.python_version, args.max_mib, args.lock)
    except WheelhouseError as err:
        raise SystemExit(f'gpu-wheels: {err}') from None
    print(f'{args.folder}: {len(manifest["wheels"])} wheels, {manifest["total_mib"]:.1f} MiB, resolved offline for '
          f'Python {args.python_version}; requirements met by the pins and the provided packages')


if __name__ == '__main__':
    main()
