"""
The admission chain (kube's C{admission.chainAdmissionHandler}): the enabled plugins in kube's
order, mutating ones first (C{admit}), validating ones after the strategy's validation
(C{validate}); and the plugin registry that builds a chain from C{--enable-admission-plugins} /
C{--disable-admission-plugins} / C{--admission-control-config-file}.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Iterable, Optional, Sequence

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kapid.admission.interfaces import Attributes, IMutatingAdmission, IValidatingAdmission
from kapid.admission.context import PluginContext

log = Logger()

#: C{name -> factory(context, configuration) -> plugin}; filled by L{register} (the plugins'
#: modules register themselves when L{kapid.admission.plugins} is imported).
PLUGINS: dict[str, Callable[[PluginContext, Any], Any]] = {}


def register(name: str) -> Callable[[Callable[[PluginContext, Any], Any]], Callable[[PluginContext, Any], Any]]:
    """
    Class or function decorator: C{factory(context, configuration)} builds plugin C{name}.
    """

    def deco(factory: Callable[[PluginContext, Any], Any]) -> Callable[[PluginContext, Any], Any]:
        PLUGINS[name] = factory
        return factory

    return deco


async def _maybe_await(value: Any) -> Any:
    """
    A plugin's answer: awaited when it is a coroutine or a Deferred.
    """
    if inspect.iscoroutine(value) or isinstance(value, Deferred):
        return await value
    return value


class AdmissionChain:
    """
    The plugins of one server, in order.

    @ivar plugins: every plugin (a plugin providing both interfaces runs in both phases).
    """

    def __init__(self, plugins: Sequence[Any] = ()) -> None:
        self.plugins = list(plugins)
        self.mutating = [p for p in self.plugins if IMutatingAdmission.providedBy(p)]
        self.validating = [p for p in self.plugins if IValidatingAdmission.providedBy(p)]

    @property
    def names(self) -> list[str]:
        """
        The plugins' names, in order.
        """
        return [p.name for p in self.plugins]

    def plugin(self, name: str) -> Any:
        """
        The plugin called C{name}, or None.
        """
        for p in self.plugins:
            if p.name == name:
                return p
        return None

    def handles(self, operation: str) -> bool:
        """
        Whether any plugin looks at C{operation}.
        """
        return any(p.handles(operation) for p in self.plugins)

    async def admit(self, attributes: Attributes) -> None:
        """
        The mutating phase: each mutating plugin that handles the operation, in order; when a
        plugin asks for it, once more (kube's reinvoker: every built-in plugin again, and the
        webhooks that need it).
        """
        for p in self.mutating:
            if p.handles(attributes.operation):
                await _maybe_await(p.admit(attributes))
        if attributes.reinvoke_requested and not attributes.reinvoking:
            attributes.reinvoking = True
            for p in self.mutating:
                if p.handles(attributes.operation):
                    await _maybe_await(p.admit(attributes))

    async def validate(self, attributes: Attributes) -> None:
        """
        The validating phase: each validating plugin that handles the operation, in order.
        """
        for p in self.validating:
            if p.handles(attributes.operation):
                await _maybe_await(p.validate(attributes))


def load_plugins() -> None:
    """
    Import the plugin modules so that they register.
    """
    import kapid.admission.plugins  # noqa: F401


def build_chain(
    names: Iterable[str], context: PluginContext, plugin_config: Optional[dict[str, Any]] = None
) -> AdmissionChain:
    """
    The chain of the enabled plugin C{names} (already in kube's order) that kapid implements;
    the others are left out (and logged once).
    """
    load_plugins()
    plugin_config = plugin_config or {}
    plugins = []
    missing = []
    for name in names:
        factory = PLUGINS.get(name)
        if factory is None:
            missing.append(name)
            continue
        plugin = factory(context, plugin_config.get(name))
        if plugin is not None:
            plugins.append(plugin)
    if missing:
        log.info("admission plugins kapid does not implement yet, not run: {names}", names=", ".join(missing))
    return AdmissionChain(plugins)


def chain_for_service(service: Any) -> AdmissionChain:
    """
    The daemon's chain (built once per service, shared by every resource link): the plugins of
    C{--enable-admission-plugins}/C{--disable-admission-plugins} with their configuration from
    C{--admission-control-config-file}. Its context reads through the first link bound to it
    (L{PluginContext.bind}).
    """
    chain = getattr(service, "admission_chain", None)
    if chain is not None:
        return chain
    config = service.config
    admission = getattr(config, "admission", None)
    context = PluginContext(None, service.reactor, config)
    context.extras["service"] = service
    if admission is None:
        from kapid.options.admission import DEFAULT_ON, ORDERED_PLUGINS

        names: Sequence[str] = tuple(p for p in ORDERED_PLUGINS if p in DEFAULT_ON)
        plugin_config: dict[str, Any] = {}
    else:
        names, plugin_config = admission.plugins, dict(admission.plugin_config or {})
    chain = build_chain(names, context, plugin_config)
    chain.context = context  # type: ignore[attr-defined]
    service.admission_chain = chain
    return chain


def bind_chain(chain: Any, link: Any, primary: bool = False) -> None:
    """
    Let C{chain}'s plugins read through C{link}: the C{primary} link (the built-in resources')
    wins, another only while none is bound; every link is remembered for hooks on its stores.
    """
    context = getattr(chain, "context", None)
    if context is not None:
        context.bind(link, primary)
