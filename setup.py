import os
import os.path as osp
import shutil
import sys
from pathlib import Path

from setuptools import find_packages, setup

ROOT = osp.dirname(osp.abspath(__file__))
# What `mim train/test m33d_mm ...`, `_base_ = 'm33d_mm::...'` and users of an installed package need, under
# m33d_mm/.mim as in the OpenMMLab repos.
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def read_requirements(name):
    lines = Path(ROOT).joinpath('requirements', name).read_text().splitlines()
    return [line.split('#')[0].strip() for line in lines if line.split('#')[0].strip()]


def add_mim_extension():
    """Fill m33d_mm/.mim: links to the checkout for editable installs, copies for wheels and sdists."""
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif {'sdist', 'bdist_wheel', 'build', 'install'} & set(sys.argv):
        mode = 'copy'
    else:
        return
    mim_path = osp.join(ROOT, 'm33d_mm', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in MIM_FILES:
        src, dst = osp.join(ROOT, name), osp.join(mim_path, name)
        if not osp.exists(src):  # building from an sdist: its .mim is already filled
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_path), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='m33d_mm',
        version='0.1.0',
        description='M3D: multi-modal masked RGB-D pre-training for ViTs, as an OpenMMLab plugin',
        long_description=Path(ROOT).joinpath('README.md').read_text(encoding='utf-8'),
        long_description_content_type='text/markdown',
        packages=find_packages(include=['m33d_mm', 'm33d_mm.*']),
        include_package_data=True,  # m33d_mm/.mim, listed in MANIFEST.in
        python_requires='>=3.9',
        install_requires=read_requirements('runtime.txt'),
        extras_require=dict(
            tests=read_requirements('tests.txt'),
            optional=read_requirements('optional.txt'),
            mmcv=read_requirements('mmcv.txt'),
        ),
        license='Apache-2.0',
        zip_safe=False,
    )
