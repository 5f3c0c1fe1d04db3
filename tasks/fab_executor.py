"""How `fab` turns the command line into task calls, adjusted in two ways.

- Fabric runs the words after `--` as a shell command on every host, after the tasks.
  Here they belong to the task that reads them (`fab -H prod manage -- migrate`), and
  are never handed to a remote shell as one string.
- Fabric runs `-H a,b task` as one call per host, one after another, stopping at the
  first failure. A task marked `many_hosts` gets a single call instead, whose context
  carries the host list; it connects to each host itself, so that a deploy across
  hosts is one deploy.
"""

from __future__ import annotations

from fabric.executor import Executor
from invoke import Context
from invoke.tasks import Call


class HostsContext(Context):
    """A local context that knows the hosts given with -H (possibly none)."""

    hosts: list[str] = []


class ManyHostsCall(Call):
    def __init__(self, *args, hosts=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.hosts = list(hosts)

    def clone_kwargs(self):
        kwargs = super().clone_kwargs()
        kwargs["hosts"] = self.hosts
        return kwargs

    def make_context(self, config):
        context = HostsContext(config=config)
        context.hosts = self.hosts
        return context


class ComposeshipExecutor(Executor):
    def expand_calls(self, calls, apply_hosts=True):
        remainder, self.core.remainder = self.core.remainder, ""
        try:
            host_string = self.core[0].args.hosts.value
            hosts = [host.strip() for host in host_string.split(",") if host.strip()] if host_string else []
            expanded = []
            for call in calls:
                if getattr(call.task, "many_hosts", False):
                    expanded.append(call.clone(into=ManyHostsCall, with_={"hosts": hosts}))
                else:
                    expanded += super().expand_calls([call], apply_hosts)
            return expanded
        finally:
            self.core.remainder = remainder


def many_hosts(task):
    task.many_hosts = True
    return task
