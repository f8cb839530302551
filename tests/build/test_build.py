"""Building sio from source: CMake names the Debian packages that are missing, a Python build from a
checkout (pip wheel ./python) writes nothing into it, and the sdist (scripts/sdist.sh) carries the
C sources and builds a wheel that imports.

Run by scripts/test.sh after scripts/wheel.sh, whose tools venv (scikit-build-core, swig, cmake's
PyPI-free build) is SIO_WHEEL_TOOLS; without it the wheel test is skipped.
"""
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def configure(tmp, env_extra, *args):
    env = dict(os.environ, **env_extra)
    return subprocess.run(['cmake', '-S', str(ROOT), '-B', str(tmp / 'b'), *args], env=env,
                          capture_output=True, text=True, timeout=120)


def git_status():
    return subprocess.run(['git', 'status', '--porcelain', '--ignored'],
                          cwd=ROOT, capture_output=True, text=True, check=True).stdout


def test_missing_libraries_are_named_with_their_debian_packages(tmp_path):
    # pkg-config searching nowhere: libuv, cJSON (and Lua, for the Lua binding) are not found
    r = configure(tmp_path, {'PKG_CONFIG_LIBDIR': str(tmp_path / 'none')}, '-DSIO_PYTHON=ON')
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert 'sio: missing build dependencies' in out
    assert 'sudo apt install libuv1-dev libcjson-dev libcrypt-dev liblua5.4-dev' in out
    assert 'python/README.md' in out
    # without the Lua binding, it is not asked for
    r = configure(tmp_path / 'nolua', {'PKG_CONFIG_LIBDIR': str(tmp_path / 'none')}, '-DSIO_LUA=OFF')
    out = r.stdout + r.stderr
    assert 'sudo apt install libuv1-dev libcjson-dev libcrypt-dev\n' in out and 'lua5.4' not in out


def test_a_missing_compiler_is_named(tmp_path):
    r = configure(tmp_path, {'CC': str(tmp_path / 'no-cc')})
    assert r.returncode != 0
    assert 'sio: no C compiler was found' in r.stdout + r.stderr
    assert 'sudo apt install gcc' in r.stdout + r.stderr


def test_the_complete_configure_passes(tmp_path):
    r = configure(tmp_path, {}, '-DSIO_PYTHON=ON', '-DSIO_TESTS=OFF', '-DSIO_BENCH=OFF')
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'missing build dependencies' not in r.stdout + r.stderr


@pytest.mark.skipif(not os.environ.get('SIO_WHEEL_TOOLS'), reason='SIO_WHEEL_TOOLS (scripts/wheel.sh tools venv) not set')
def test_pip_wheel_writes_nothing_into_the_checkout(tmp_path):
    pip = pathlib.Path(os.environ['SIO_WHEEL_TOOLS']) / 'bin' / 'pip'
    before = git_status()
    env = dict(os.environ, CMAKE_BUILD_PARALLEL_LEVEL='2',
               PATH=str(pip.parent) + os.pathsep + os.environ['PATH'])
    r = subprocess.run([str(pip), 'wheel', '--no-build-isolation', '--no-deps', '-q', '-w',
                        str(tmp_path), './python'], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert git_status() == before   # ignored files included: no build-wheel/, egg-info, __pycache__
    wheels = list(tmp_path.glob('*.whl'))
    assert len(wheels) == 1 and wheels[0].name.startswith('sio_server-'), wheels
    with zipfile.ZipFile(wheels[0]) as z:
        names = z.namelist()
        meta = next(n for n in names if n.endswith('.dist-info/METADATA'))
        assert 'Name: sio-server\n' in z.read(meta).decode()
        assert 'sio/__init__.py' in names and 'sio/api.py' in names
        assert any(n.startswith('sio/_core.') for n in names)


@pytest.mark.skipif(not os.environ.get('SIO_WHEEL_TOOLS'), reason='SIO_WHEEL_TOOLS (scripts/wheel.sh tools venv) not set')
def test_the_sdist_carries_the_c_sources_and_builds(tmp_path):
    tools = pathlib.Path(os.environ['SIO_WHEEL_TOOLS'])
    before = git_status()
    r = subprocess.run(['bash', str(ROOT / 'scripts' / 'sdist.sh'), str(tmp_path / 'sdist')],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    sdist = pathlib.Path(r.stdout.strip().splitlines()[-1])
    assert sdist.name == 'sio_server-%s.tar.gz' % version()
    env = dict(os.environ, CMAKE_BUILD_PARALLEL_LEVEL='2',
               PATH=str(tools / 'bin') + os.pathsep + os.environ['PATH'])
    r = subprocess.run([str(tools / 'bin' / 'pip'), 'wheel', '--no-build-isolation', '--no-deps', '-q',
                        '-w', str(tmp_path / 'whl'), str(sdist)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (whl,) = (tmp_path / 'whl').glob('sio_server-*.whl')
    subprocess.run([sys.executable, '-m', 'venv', str(tmp_path / 'venv')], check=True, timeout=120)
    vpy = tmp_path / 'venv' / 'bin' / 'python'
    subprocess.run([str(vpy), '-m', 'pip', 'install', '-q', '--no-deps', str(whl)], check=True,
                   timeout=300)
    r = subprocess.run([str(vpy), '-c', 'import sio, sio.api; print(sio.__version__)'], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == version(), r.stderr
    assert git_status() == before


def version():
    text = (ROOT / 'CMakeLists.txt').read_text()
    return re.search(r'project\(sio VERSION ([0-9.]+)', text).group(1)
