"""`fab -H HOST TASK`: the server tasks. The local tasks are here too, under `local.`
(they need no -H). `fab --list` shows them all; `fab --help TASK` shows a task's flags."""

from tasks.project import fab_namespace

ns = fab_namespace()
# fabric.json next to this file sets tasks.executor_class (tasks/fab_executor.py): words
# after `--` go to the task, never to a remote shell, and `-H a,b deploy` is one deploy.
