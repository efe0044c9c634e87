"""DDIM Studio's data files (the default model, icons, style sheets), installed as ``ddim_studio.resources``.

This folder is the top-level ``resources/`` of the project; ``pyproject.toml`` maps it to the
package ``ddim_studio.resources`` so that it ships inside the wheel. Code finds it through
:func:`ddim_studio.core.resources.resources_dir`.
"""
