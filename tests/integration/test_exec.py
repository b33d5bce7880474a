"""How a command is found and run. corral's child searches PATH and falls back
to the shell itself, as execvpe(3) does, while corral goes on beside it."""
import os

from conftest import wait_for


def write_script(path, text, mode=0o755):
    path.write_text(text)
    path.chmod(mode)


def with_path(*dirs):
    return {**os.environ, "PATH": ":".join([*map(str, dirs), os.environ.get("PATH", "/usr/bin:/bin")])}


def test_file_without_interpreter_line_runs_in_the_shell(corral, tmp_path):
    write_script(tmp_path / "plain", "echo plain ran; exec sleep 1000\n")
    c = corral("""
services:
  p:
    command: [./plain]
""")
    c.wait_output(r"plain ran")
    pid = wait_for(lambda: c.pids("p"), what="p running")[0]
    assert c.stop() == 0
    assert "exec './plain'" not in c.output()
    assert pid


def test_path_search_goes_past_a_file_it_may_not_run(corral, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    write_script(a / "tool", "#!/bin/sh\necho from-a\nexec sleep 1000\n", 0o644)
    write_script(b / "tool", "#!/bin/sh\necho from-b\nexec sleep 1000\n")
    c = corral("""
services:
  t:
    command: [tool]
""", env=with_path(tmp_path / "missing", a, b))
    c.wait_output(r"from-b")
    assert c.stop() == 0
    assert "from-a" not in c.output()


def test_path_search_says_permission_denied_when_that_is_all_it_found(corral, tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    write_script(a / "only-here", "#!/bin/sh\nexit 0\n", 0o644)
    c = corral("""
services:
  t:
    command: [only-here]
    restart: {policy: no}
""", env=with_path(a))
    c.wait_output(r"t exec 'only-here': Permission denied")
    assert c.stop() == 1  # its run failed (126), though policy no only leaves it exited


def test_empty_path_entry_is_the_working_directory(corral, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    write_script(site / "here", "#!/bin/sh\necho found in cwd\nexec sleep 1000\n")
    env = {**os.environ, "PATH": ":/usr/bin:/bin"}
    c = corral("""
services:
  h:
    command: [here]
    cwd: site
""", env=env)
    c.wait_output(r"found in cwd")
    assert c.stop() == 0
