"""The timm feature extractor: layer selection by name, weight loading, frozen or trainable.

``pre_trained=True`` loads ImageNet weights and freezes the network (eval mode, no grad), as the
official code does.  An untagged name resolves to timm's ``.tv_in1k`` tag where one exists, because
the official code uses the torchvision weights while timm's own default for ``wide_resnet50_2`` is
``racm_in1k`` (docs/algorithm.md §1.2, §10.1.1).  ``pre_trained=False`` is anomalib's meaning: random init and
trainable.

Weights come from ``backbone_weights`` (a local state dict of the full timm/torchvision model), else
from a local Hugging Face or torch-hub cache, else from the Hub.  Offline, timm's Hub client retries
for about 45 s before failing, so the Hub is probed first and an unreachable Hub fails at once with a
message that names ``backbone_weights``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlparse

import timm
import torch
from safetensors.torch import load_file as load_safetensors
from torch import Tensor, nn

from glass_tune.config.schema import MIN_IMAGE_SIDE
from glass_tune.model.precision import autocast_to
from glass_tune.util.errors import ConfigError, message_line

TORCHVISION_TAG = "tv_in1k"
HUB_PROBE_TIMEOUT_S = 3.0
HUB_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
CHECKPOINT_WRAPPERS = ("state_dict", "model")
OPTIONAL_KEY_SUFFIXES = ("num_batches_tracked",)  # absent from old torchvision checkpoints
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
PROBE_SIDES = range(MIN_IMAGE_SIDE, 1024 + 1, 32)  # square input sizes tried for a working one


def _offline_message(name: str) -> str:
    return (
        f"backbone '{name}': ImageNet weights could not be loaded (offline?); download them elsewhere "
        "and pass --set backbone_weights=/path/to/file.pth"
    )


def resolve_weights_name(name: str) -> str:
    """``arch`` -> ``arch.tv_in1k`` when timm has torchvision weights for it; tagged names are kept."""
    arch, tag = timm.models.split_model_name_tag(name)
    if tag:
        return name
    tagged = f"{arch}.{TORCHVISION_TAG}"
    return tagged if tagged in timm.list_pretrained(tagged) else arch


def _check_known(name: str) -> str:
    arch, _ = timm.models.split_model_name_tag(name)
    if not timm.is_model(arch):
        raise ConfigError(f"backbone '{name}' is not a timm model (e.g. wide_resnet50_2, resnet18, resnet50)")
    return arch


def _feature_model(arch: str, out_indices: Sequence[int] | None = None) -> nn.Module:
    """timm's feature extractor of ``arch`` on the meta device (free), every feature layer or ``out_indices``
    (then truncated after the deepest), in eval mode: map sizes do not depend on the mode, and a
    train-mode BatchNorm refuses the probe's single image once a map is 1x1 (resnet18's layer4 at 32 px)."""
    indices = {} if out_indices is None else {"out_indices": tuple(out_indices)}
    try:
        with torch.device("meta"):
            return timm.create_model(arch, pretrained=False, features_only=True, **indices).eval()
    except Exception as exc:  # timm raises RuntimeError/ValueError/... for unsupported models
        raise ConfigError(f"backbone '{arch}' cannot be used as a timm feature extractor: {message_line(exc)}") from exc


def _map_sizes(model: nn.Module, input_shape: tuple[int, int]) -> list[tuple[int, int]]:
    with torch.device("meta"):
        return [tuple(o.shape[-2:]) for o in model(torch.empty(1, 3, *input_shape))]


def _runs_at(model: nn.Module, side: int) -> bool:
    try:
        _map_sizes(model, (side, side))
    except Exception:  # whatever stopped the probe at input_shape
        return False
    return True


def _feature_sizes(
    arch: str, out_indices: Sequence[int], input_shape: tuple[int, int], layers: Sequence[str]
) -> list[tuple[int, int]]:
    """The maps' sizes of ``out_indices`` at ``input_shape``; when the network cannot compute them there
    (a kernel larger than a map, a fixed input size), a ConfigError naming input_shape and a size that works."""
    model = _feature_model(arch, out_indices)
    try:
        return _map_sizes(model, input_shape)
    except Exception as exc:  # convolution, pooling and assertion errors alike
        reason = message_line(exc)
        side = next((s for s in PROBE_SIDES if _runs_at(model, s)), None)
        if side is None:
            raise ConfigError(
                f"backbone '{arch}' cannot compute layers {', '.join(layers)} at any square input_shape up to {PROBE_SIDES[-1]}: {reason}"
            ) from exc
        raise ConfigError(
            f"input_shape {list(input_shape)}: backbone '{arch}' cannot compute layers {', '.join(layers)} at that size "
            f"({reason}); the smallest square multiple of {PROBE_SIDES.step} that works is [{side}, {side}]"
        ) from exc


def _layer_indices(name: str, layers: Sequence[str], available: list[str]) -> list[int]:
    unknown = [layer for layer in layers if layer not in available]
    if unknown:
        raise ConfigError(f"layer '{unknown[0]}' is not a feature layer of backbone '{name}' (available: {', '.join(available)})")
    return [available.index(layer) for layer in layers]


# --- weights ------------------------------------------------------------------------------------


def _unwrap_checkpoint(obj: Any) -> Any:
    """Peel ``{"state_dict": ...}`` / ``{"model": ...}`` wrappers (training checkpoints)."""
    while isinstance(obj, Mapping):
        inner = next((obj[k] for k in CHECKPOINT_WRAPPERS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    return obj


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise ConfigError(f"backbone_weights '{path}': file not found")
    try:
        if path.suffix == ".safetensors":
            raw = load_safetensors(str(path))
        else:
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and safetensors errors have no common base class
        raise ConfigError(f"backbone_weights '{path}': not a readable PyTorch state dict ({exc})") from exc
    state = _unwrap_checkpoint(raw)
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ConfigError(f"backbone_weights '{path}': expected a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _classifier_prefixes(model: nn.Module) -> tuple[str, ...]:
    classifier = model.pretrained_cfg.get("classifier") or "fc"
    names = (classifier,) if isinstance(classifier, str) else tuple(classifier)
    return tuple(f"{n}." for n in names)


def _matched_state_dict(state: dict[str, Tensor], arch: str, path: Path) -> dict[str, Tensor]:
    """Drop classifier keys and check every remaining key and shape against the full timm model.

    timm loads feature-only weights non-strictly, so without this check a wrong file would load
    silently as a partly random network.
    """
    with torch.device("meta"):
        reference = timm.create_model(arch, pretrained=False)
    skip = _classifier_prefixes(reference)
    expected = {k: v.shape for k, v in reference.state_dict().items() if not k.startswith(skip)}
    state = {k: v for k, v in state.items() if not k.startswith(skip)}
    missing = [k for k in expected if k not in state and not k.endswith(OPTIONAL_KEY_SUFFIXES)]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [k for k in state if k in expected and state[k].shape != expected[k]]
    for problem, keys in (("missing", missing), ("unexpected", unexpected), ("wrong-shape", wrong_shape)):
        if keys:
            raise ConfigError(
                f"backbone_weights '{path}' does not match backbone '{arch}': {len(keys)} {problem} keys (e.g. '{keys[0]}')"
            )
    return state


def _pretrained_cfg(name: str) -> Any:
    """timm's pretrained config for ``name`` (``arch`` or ``arch.tag``); ConfigError when there is none."""
    try:
        cfg = timm.models.get_pretrained_cfg(name)
    except RuntimeError as exc:  # unknown tag
        raise ConfigError(f"backbone '{name}': {exc}") from exc
    if cfg is None or not (cfg.hf_hub_id or cfg.url):
        raise ConfigError(f"backbone '{name}': timm has no pretrained weights for it")
    return cfg


def _hub_client() -> ModuleType | None:
    """``huggingface_hub`` when installed, else None: a bare machine (e.g. a lent GPU with torch and timm
    only) trains from ``backbone_weights`` or a random init and must not need the Hub client to import."""
    try:
        import huggingface_hub
    except ImportError:
        return None
    return huggingface_hub


def _cached_weights_file(cfg: Any) -> str | None:
    """A previously downloaded weights file: Hugging Face cache first, then the torch-hub cache."""
    hub = _hub_client()
    if cfg.hf_hub_id and hub is not None:
        for filename in (cfg.hf_hub_filename, *HUB_WEIGHT_FILES):
            cached = filename and hub.try_to_load_from_cache(cfg.hf_hub_id, filename)
            if isinstance(cached, str):
                return cached
    if cfg.url:
        candidate = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(cfg.url).path)
        if candidate.is_file():
            return str(candidate)
    return None


def _hub_offline(hub: ModuleType) -> bool:
    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}
    return flag or hub.constants.HF_HUB_OFFLINE


def _hub_reachable(hub: ModuleType) -> bool:
    """A quick TCP connect to the Hub endpoint; behind a proxy the download itself has to decide."""
    if any(os.environ.get(v) for v in PROXY_VARIABLES):
        return True
    url = urlparse(hub.constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=HUB_PROBE_TIMEOUT_S).close()
    except OSError:
        return False
    return True


def _pretrained_overlay(name: str, weights_path: str | None, arch: str) -> tuple[str, dict[str, Any]]:
    """The timm model name and ``pretrained_cfg_overlay`` that load the right weights without network waits."""
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        return arch, {"state_dict": _matched_state_dict(_read_state_dict(path), arch, path)}
    weights_name = resolve_weights_name(name)
    cached = _cached_weights_file(_pretrained_cfg(weights_name))
    if cached is not None:
        return weights_name, {"file": cached}
    hub = _hub_client()  # timm downloads through it: without it, only local weights load
    if hub is None or _hub_offline(hub) or not _hub_reachable(hub):
        raise ConfigError(_offline_message(name))
    return weights_name, {}


def check_weights(name: str, *, pretrained: bool, weights_path: str | None, at_hand: bool) -> None:
    """What a backbone's weights must satisfy before any is loaded: ``backbone_weights`` only with
    ``pre_trained``; with ``at_hand``, a pre-trained backbone's weights are there (a matching file, a
    cached download or a reachable Hub), found the way loading finds them but never downloaded."""
    if weights_path is not None and not pretrained:
        raise ConfigError("backbone_weights is set but pre_trained is false (random init); set pre_trained=true")
    if pretrained and at_hand:
        _pretrained_overlay(name, weights_path, _check_known(name))


# --- module ---------------------------------------------------------------------------------------


class Backbone(nn.Module):
    """timm ``features_only`` network returning the requested layers' maps in the requested order."""

    def __init__(
        self,
        name: str,
        layers: Sequence[str],
        *,
        input_shape: tuple[int, int],
        pretrained: bool,
        weights_path: str | None = None,
    ) -> None:
        super().__init__()
        check_weights(name, pretrained=pretrained, weights_path=weights_path, at_hand=False)  # loading checks the rest
        arch = _check_known(name)
        indices = _layer_indices(name, layers, list(_feature_model(arch).feature_info.module_name()))
        out_indices = sorted(set(indices))  # timm returns maps in network order
        self.name = name
        self.layers = tuple(layers)
        self.trainable = not pretrained
        self._order = [out_indices.index(i) for i in indices]
        sizes = _feature_sizes(arch, out_indices, input_shape, layers)
        self.feature_sizes = [sizes[j] for j in self._order]
        self.model = self._create(name, arch, out_indices, pretrained, weights_path)
        self.autocast_dtype: torch.dtype | None = None  # bf16 precision (GlassModel.set_precision)
        if not self.trainable:
            self.model.requires_grad_(False)
            self.model.eval()

    @staticmethod
    def _create(name: str, arch: str, out_indices: list[int], pretrained: bool, weights_path: str | None) -> nn.Module:
        if not pretrained:
            return timm.create_model(arch, pretrained=False, features_only=True, out_indices=out_indices)
        model_name, overlay = _pretrained_overlay(name, weights_path, arch)
        try:
            return timm.create_model(
                model_name, pretrained=True, features_only=True, out_indices=out_indices, pretrained_cfg_overlay=overlay
            )
        except Exception as exc:  # hub/network/file errors come in many types
            if weights_path is not None:
                raise ConfigError(f"backbone_weights '{weights_path}': could not be loaded into '{arch}' ({exc})") from exc
            raise ConfigError(_offline_message(name)) from exc

    def train(self, mode: bool = True) -> Backbone:
        """A frozen backbone stays in eval mode whatever the parent module asks."""
        return super().train(mode and self.trainable)

    def forward(self, images: Tensor) -> list[Tensor]:
        """The layers' maps as float32 (computed under autocast when ``autocast_dtype`` is set).

        On CUDA the images go in channels_last (call ``to(memory_format=torch.channels_last)`` on the
        module once), which convolutions prefer there; other devices keep the default layout.
        """
        if images.is_cuda:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.set_grad_enabled(self.trainable and torch.is_grad_enabled()), autocast_to(self.autocast_dtype, images):
            maps = self.model(images)
        return [maps[i].float() for i in self._order]

    def extra_repr(self) -> str:
        return f"name={self.name!r}, layers={self.layers}, trainable={self.trainable}"
