"""The requirement files list what the code imports (and say why for anything else), the lock file pins all of
it, and no code path needs a compiled mmcv op, so mmcv-lite is enough."""
import ast
import importlib.metadata
import re
import sys

from conftest import REPO

REQUIREMENTS = REPO / 'requirements'
# the sources under version control: ``m33d_mm/.mim`` is the install step's copy of configs/ and tools/
SOURCES = sorted(path for path in list((REPO / 'm33d_mm').rglob('*.py')) + list((REPO / 'tools').rglob('*.py'))
                 if '.mim' not in path.relative_to(REPO).parts)


def _imports(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            for alias in node.names:
                yield f'{node.module}.{alias.name}'


def _requirements(name):
    """``{distribution name: inline comment}`` of one requirements file."""
    out = {}
    for line in (REQUIREMENTS / name).read_text().splitlines():
        spec, _, comment = line.partition('#')
        if spec.strip():
            out[re.split(r'[<>=!~; \[]', spec.strip())[0].lower()] = comment.strip()
    return out


def _normal(name):
    return re.sub(r'[-_.]+', '-', name).lower()


def test_the_project_imports_no_compiled_mmcv_op():
    offenders = [f'{path.relative_to(REPO)}: {name}' for path in SOURCES for name in _imports(path)
                 if name == 'mmcv.ops' or name.startswith(('mmcv.ops.', 'mmcv._ext'))]
    assert offenders == []
    # every mmcv import of the project is of a pure-Python part that mmcv-lite ships
    used = {name for path in SOURCES for name in _imports(path) if name.split('.')[0] == 'mmcv'}
    assert used <= {'mmcv', 'mmcv.transforms', 'mmcv.transforms.BaseTransform', 'mmcv.transforms.loading'}, used


def test_runtime_requirements_are_imported_or_say_why():
    runtime = _requirements('runtime.txt')
    distributions = importlib.metadata.packages_distributions()
    stdlib = set(sys.stdlib_module_names)
    siblings = {path.stem for path in SOURCES}  # tools that import a script next to them
    top_level = {name.split('.')[0] for path in SOURCES for name in _imports(path)} - stdlib - siblings - {'m33d_mm'}
    imported = {_normal(dist) for module in top_level for dist in distributions.get(module, [])}
    # tools/benchmark/gpu_check.py runs the GPU tests, so the test requirements count as declared too
    declared = {_normal(name) for name in runtime} | {_normal(n) for f in ('optional.txt', 'tests.txt')
                                                     for n in _requirements(f)}
    # every third-party module the code imports comes from a declared distribution
    for module in sorted(top_level):
        dists = {_normal(d) for d in distributions.get(module, [])}
        assert dists & declared, f'{module} is imported but none of {sorted(dists)} is declared'
    # every runtime requirement is imported by the code, or its line says what needs it
    for name, comment in runtime.items():
        assert _normal(name) in imported or comment, f'runtime.txt: {name} is neither imported nor explained'
    assert 'opencv-contrib-python' not in runtime  # the same cv2 as opencv-python; mmaction2 declares it itself


def test_the_lock_file_pins_every_requirement():
    lock = {}
    for line in (REQUIREMENTS / 'lock-cpu.txt').read_text().splitlines():
        if line and not line.startswith('#'):
            name, _, version = line.partition('==')
            lock[_normal(name)] = version
    for name in ('runtime.txt', 'tests.txt', 'optional.txt'):
        for requirement in _requirements(name):
            if _normal(requirement) != 'setuptools':  # pip freeze leaves setuptools out; venvs bring their own
                assert _normal(requirement) in lock, f'{name}: {requirement} is not pinned in lock-cpu.txt'
    assert lock['opencv-python'] == lock['opencv-contrib-python']  # one cv2 folder, one version
