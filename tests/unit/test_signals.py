"""``dagflow.signals.on_signals``: a stop signal never deadlocks the thread it interrupts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

from dagflow.signals import on_signals

#: The main thread clears and polls an Event in a tight loop while another thread floods
#: it with SIGUSR2, whose action sets that Event. A handler that called ``set()`` itself
#: would, sooner or later, run while the main thread holds the Event's lock and hang.
FLOOD = textwrap.dedent("""
    import os, signal, sys, threading, time
    from dagflow.signals import on_signals

    wakeup = threading.Event()
    actions = []
    flooding = True

    def flood():
        while flooding:
            os.kill(os.getpid(), signal.SIGUSR2)
            time.sleep(0.0002)

    with on_signals(lambda sig: (actions.append(sig), wakeup.set()), signals=(signal.SIGUSR2,)):
        flooder = threading.Thread(target=flood)
        flooder.start()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            wakeup.clear()
            wakeup.wait(0)
            wakeup.is_set()
        flooding = False
        flooder.join()
        time.sleep(0.1)  # the last signals are relayed before the handler goes
    print(len(actions))
""")


def test_a_flood_of_signals_never_deadlocks_the_interrupted_thread() -> None:
    proc = subprocess.run([sys.executable, "-c", FLOOD], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) > 100  # the actions did run, in the relay thread


def test_the_action_hears_each_signal_and_the_old_handler_comes_back() -> None:
    heard: list[signal.Signals] = []
    done = threading.Event()
    before = signal.getsignal(signal.SIGUSR2)
    with on_signals(lambda sig: (heard.append(sig), done.set()), signals=(signal.SIGUSR2,)):
        assert signal.getsignal(signal.SIGUSR2) is not before
        os.kill(os.getpid(), signal.SIGUSR2)
        assert done.wait(5)
    assert heard == [signal.SIGUSR2]
    assert signal.getsignal(signal.SIGUSR2) is before
    assert not [t for t in threading.enumerate() if t.name == "dagflow-signal-relay"]


def test_a_forked_child_dies_of_the_signal_instead_of_relaying_it_to_its_parent() -> None:
    heard: list[signal.Signals] = []
    with on_signals(heard.append, signals=(signal.SIGTERM,)):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            time.sleep(30)
            os._exit(0)
        time.sleep(0.1)
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
        time.sleep(0.2)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
    assert heard == []


def test_an_action_that_raises_does_not_stop_the_relay() -> None:
    heard: list[signal.Signals] = []
    done = threading.Event()

    def action(sig: signal.Signals) -> None:
        heard.append(sig)
        if len(heard) == 1:
            raise RuntimeError("first one fails")
        done.set()

    with on_signals(action, signals=(signal.SIGUSR2,)):
        os.kill(os.getpid(), signal.SIGUSR2)
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGUSR2)
        assert done.wait(5)
    assert heard == [signal.SIGUSR2, signal.SIGUSR2]


def test_outside_the_main_thread_it_raises_and_leaves_nothing_behind() -> None:
    errors: list[BaseException] = []

    def enter() -> None:
        try:
            with on_signals(lambda sig: None, signals=(signal.SIGUSR2,)):
                pass
        except ValueError as exc:  # signal.signal only works in the main thread
            errors.append(exc)

    before = signal.getsignal(signal.SIGUSR2)
    thread = threading.Thread(target=enter)
    thread.start()
    thread.join(10)
    assert len(errors) == 1
    assert signal.getsignal(signal.SIGUSR2) is before
    assert not [t for t in threading.enumerate() if t.name == "dagflow-signal-relay"]
