"""Connecting to Ray: an embedded local Ray or a cluster (``--address``), and the one token set-up that
``tune`` and the job commands share.

Ray >= 2.52 clusters default to token authentication (``~/.ray/auth_token``). A driver that connects
to a ``ray start`` head by ``HOST:PORT`` without token mode fails after a 20-second wait; a token-mode
driver also connects to a cluster without it. So every connection to a cluster here runs in token mode
unless the user chose otherwise (:func:`use_token_auth`), and an authentication failure is one line
(:func:`token_auth_error`).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import TYPE_CHECKING, Any

from glass_tune.search.pending import allow_pending, cluster_slots, pending_limit
from glass_tune.util.errors import ConfigError, UserError
from glass_tune.util.logs import get_logger, quieted

if TYPE_CHECKING:
    from glass_tune.search.options import TuneOptions

log = get_logger(__name__)

RAY_TOKEN_LOGGER = "ray._private.authentication.authentication_token_setup"  # "Token authentication is enabled ..."


def use_token_auth() -> None:
    """Token mode for a connection to a cluster, unless ``RAY_AUTH_MODE`` says otherwise (before Ray reads it)."""
    os.environ.setdefault("RAY_AUTH_MODE", "token")


def token_auth_error(address: str) -> UserError:
    """The one line for a cluster that refused this machine's credentials."""
    return UserError(
        f"--address {address}: the cluster requires token authentication (set RAY_AUTH_MODE=token and put "
        "the cluster's token in ~/.ray/auth_token or RAY_AUTH_TOKEN)"
    )


def _check_reachable(address: str) -> None:
    """Fail in seconds, not after Ray's long retry loop, when a HOST:PORT address does not answer."""
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--address {address!r}: expected auto, HOST:PORT or ray://HOST:PORT")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=3):
            pass
    except OSError as exc:
        raise UserError(f"--address {address}: no Ray cluster answers there ({exc.strerror or exc})") from None


def connect_ray(options: TuneOptions) -> None:
    """Start an embedded local Ray (never attaching to a stray cluster) or connect to ``--address``.

    Address and GPU problems are reported before Ray starts where possible, and always before a trial.
    """
    import ray

    if options.address is None and options.gpus_per_trial > 0:
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"--gpus-per-trial {options.gpus_per_trial}: this machine has no GPU (use 0)")
    if options.address not in (None, "auto"):
        _check_reachable(options.address)
    if not ray.is_initialized():
        _init_ray(options.address)
    resources = ray.cluster_resources()
    gpus = resources.get("GPU", 0)
    if options.gpus_per_trial > gpus:
        raise ConfigError(f"--gpus-per-trial {options.gpus_per_trial}: the Ray cluster has {gpus:g} GPU(s)")
    where = "embedded local Ray" if options.address is None else f"Ray cluster at {options.address}"
    slots = cluster_slots(resources, cpus_per_trial=options.cpus_per_trial, gpus_per_trial=options.gpus_per_trial)
    pending = allow_pending(
        pending_limit(
            slots,
            samples=options.samples,
            max_concurrent=options.max_concurrent,
            max_concurrent_total=options.max_concurrent_total,
        )
    )
    log.info(
        f"connected to {where}: {resources.get('CPU', 0):g} CPU, {gpus:g} GPU, {slots} trial slots ({pending} pending at most)"
    )


def verbose() -> bool:
    """Whether the user asked for Ray's and Optuna's own lines (``-v``)."""
    return log.isEnabledFor(logging.DEBUG)


def quiet_libraries() -> None:
    """Keep Ray's and Optuna's lines that say nothing to a glass-tune user off the console (-v keeps
    them): Tune's "View detailed results" and TensorBoard hint (pointing at Ray's temp folder, not the
    experiment) come from its new console output, which glass-tune's own progress lines replace; the
    "A new study created" line from Optuna's INFO log."""
    if verbose():
        return
    import optuna

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the legacy reporter at verbose=0 prints nothing
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _init_ray(address: str | None) -> None:
    import ray

    kwargs: dict[str, Any] = {"include_dashboard": False, "configure_logging": False}
    if address is None:
        # A new local Ray enables token authentication and says so; glass-tune's own Ray is loopback-only.
        with quieted(RAY_TOKEN_LOGGER, level=logging.DEBUG if verbose() else logging.ERROR):
            ray.init(address="local", **kwargs)
        return
    use_token_auth()
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as exc:
        raise UserError(
            f"--address {address}: could not connect to a Ray cluster ({exc}); if it uses token "
            "authentication, this machine needs the cluster's token in ~/.ray/auth_token or RAY_AUTH_TOKEN"
        ) from None
    except Exception as exc:
        if "auth" in f"{type(exc).__name__} {exc}".lower():
            raise token_auth_error(address) from None
        raise
