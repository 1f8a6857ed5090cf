"""Register textebm's model types with transformers' Auto classes once transformers is imported.

After `import textebm`, `AutoConfig.for_model("electric")` and `AutoModel.from_pretrained(folder)`
must know textebm's model types (Electric, the two-tower cloze model, the CMLM), as they would any
Hugging Face model. Registering needs the model classes, hence torch and transformers (seconds),
which `import textebm` must not pay: every CLI call imports it, `textebm --help` included. So
`install()` (called by `textebm/__init__.py`) only puts a small finder on `sys.meta_path` that
watches transformers' own imports, and imports textebm's model modules (each registers itself)
once `transformers.models.auto.configuration_auto` is loaded, i.e. once anything can ask an Auto
class. In practice that is the first use of transformers: every config class imports the Auto
modules (for its docstring), so even a tokenizer-only user pays for the modelling code once.

Why the finder waits for transformers to be quiet (no transformers module half-executed) rather
than acting the moment the Auto module finishes: transformers imports its Auto modules from the
middle of other imports (`modeling_layers` imports `AutoModel` while `modeling_bert` is still
executing), and importing textebm's models then would ask for a half-made `BertModel`. So the
finder counts the transformers modules being executed and acts when the count drops to zero.

If transformers was imported before textebm, `install()` registers at once. Once done the finder
removes itself. A failure to register is a warning, never a broken import of transformers.
"""

from __future__ import annotations

import importlib
import sys
import threading
import warnings

# Loaded as soon as anything can ask an Auto class (every config class imports it).
TRIGGER = "transformers.models.auto.configuration_auto"

# Each registers its model type with AutoConfig / AutoModel when imported. One that is itself
# half-imported (it is the module importing transformers) is left to finish and register itself.
MODEL_MODULES = ("textebm.models.electric", "textebm.models.cloze", "textebm.models.cmlm")


class RegisterAfterImport:
    """A meta-path finder that imports `modules` once `trigger` is loaded and no module of
    `package` is half-executed (see the module doc). Removes itself once it has acted."""

    def __init__(self, package: str, trigger: str, modules: tuple[str, ...]) -> None:
        self.package = package
        self.trigger = trigger
        self.modules = modules
        self.executing = 0  # modules of `package` executing now, in every thread
        self.done = False
        self.lock = threading.Lock()  # guards the two fields above, never held while importing

    def find_spec(self, name, path, target=None):
        if name != self.package and not name.startswith(self.package + "."):
            return None
        spec = None
        for finder in sys.meta_path:  # the finders after this one find the real module
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        # An attribute on this module's own loader object: the loader keeps its type, so the
        # module's `__loader__` (get_source, resources) behaves exactly as without textebm.
        execute = spec.loader.exec_module

        def exec_module(module) -> None:
            with self.lock:
                self.executing += 1
            try:
                execute(module)
            finally:
                with self.lock:
                    self.executing -= 1
                # also when the module failed: the package may be quiet now, and no later
                # import of it need come to register
                self.register_if_ready()

        spec.loader.exec_module = exec_module
        return spec

    def register_if_ready(self) -> None:
        """Import `modules`, once, if `trigger` is loaded and no module of `package` is
        half-executed."""
        with self.lock:
            if self.done or self.executing or self.trigger not in sys.modules:
                return
            self.done = True  # before importing: those imports come back here
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        for module in self.modules:
            try:
                importlib.import_module(module)
            except Exception as error:  # never break the user's import of transformers
                warnings.warn(
                    f"textebm could not register its model types with transformers' Auto "
                    f"classes ({module}: {type(error).__name__}: {error})",
                    RuntimeWarning,
                    stacklevel=2,
                )


def install() -> None:
    """Arrange the registration (idempotent): at once if transformers' Auto classes are loaded,
    else when they are."""
    for finder in sys.meta_path:
        if isinstance(finder, RegisterAfterImport) and finder.package == "transformers":
            return
    finder = RegisterAfterImport("transformers", TRIGGER, MODEL_MODULES)
    sys.meta_path.insert(0, finder)
    finder.register_if_ready()
