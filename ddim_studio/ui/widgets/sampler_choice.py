"""The sampler list every mode that decodes pictures shows, and what follows from the choice.

A :class:`SamplerCombo` lists the registered samplers (the controller fills it once torch is
loaded, from :func:`registry_rows`); each entry knows whether η applies to it and which spacing
suits it. :class:`SpacingFollower` switches a mode's spacing to the sampler's own (trailing for
DPM-Solver++) when the person picks that sampler while the spacing is still the default, with a
short note; a spacing the person picked (or that came with reused parameters) is never changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QComboBox, QLabel, QWidget

from ddim_studio.core.names import DEFAULT_SAMPLER

SUPPORTS_ETA_ROLE = Qt.ItemDataRole.UserRole + 1
SPACING_ROLE = Qt.ItemDataRole.UserRole + 2
RENOISE_ROLE = Qt.ItemDataRole.UserRole + 3
SAMPLER_TOOLTIP = "How the picture is computed from its starting noise x_T."


@dataclass(frozen=True)
class SamplerRow:
    """One entry of the sampler list."""

    name: str
    label: str
    description: str
    supports_eta: bool = True
    default_spacing: str = "uniform"
    supports_renoise: bool = True
    caption: str = ""


def registry_rows() -> list[SamplerRow]:
    """The registered samplers (imports the registry, which loads torch: call it once it is loaded)."""
    from ddim_studio.core.samplers import get_sampler, sampler_names

    rows = []
    for name in sampler_names():
        spec = get_sampler(name)
        rows.append(
            SamplerRow(
                spec.name, spec.label, spec.description, spec.supports_eta, spec.default_spacing,
                spec.supports_renoise, spec.caption(),
            )
        )  # fmt: skip
    return rows


def short_label(label: str) -> str:
    """``DPM-Solver++(2M)`` → ``DPM-Solver++`` (the name people know)."""
    return label.split("(")[0].strip() or label


def eta_note(label: str) -> str:
    """Why η is disabled for a deterministic sampler."""
    return f"{short_label(label)} is deterministic: η applies to DDIM only."


class SamplerCombo(QComboBox):
    """A list of samplers that knows, per entry, whether η applies and which spacing suits it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.addItem(DEFAULT_SAMPLER.upper(), DEFAULT_SAMPLER)  # the registry fills it later
        self.setToolTip(SAMPLER_TOOLTIP)

    def set_rows(self, rows: list[SamplerRow]) -> None:
        """Fill the list, keeping the current choice (no change signal)."""
        current = self.name()
        self.blockSignals(True)
        try:
            self.clear()
            for row in rows:
                self.addItem(row.label, row.name)
                index = self.count() - 1
                self.setItemData(index, row.description, Qt.ItemDataRole.ToolTipRole)
                self.setItemData(index, row.supports_eta, SUPPORTS_ETA_ROLE)
                self.setItemData(index, row.default_spacing, SPACING_ROLE)
                self.setItemData(index, row.supports_renoise, RENOISE_ROLE)
            self.setCurrentIndex(max(self.findData(current), 0))
        finally:
            self.blockSignals(False)

    def name(self) -> str:
        """The chosen sampler's registered name."""
        return str(self.currentData() or DEFAULT_SAMPLER)

    def set_name(self, name: str) -> None:
        """Choose ``name`` (the first entry when it is not listed)."""
        self.setCurrentIndex(max(self.findData(name), 0))

    def supports_eta(self) -> bool:
        """Whether η applies to the chosen sampler (True until the registry is read)."""
        value = self.currentData(SUPPORTS_ETA_ROLE)
        return True if value is None else bool(value)

    def supports_renoise(self) -> bool:
        """Whether the chosen sampler can redo a re-noised step (harmonize; True until read)."""
        value = self.currentData(RENOISE_ROLE)
        return True if value is None else bool(value)

    def default_spacing(self, index: int | None = None) -> str | None:
        """The spacing that suits the sampler at ``index`` (the chosen one); None when unknown."""
        value = self.itemData(self.currentIndex() if index is None else index, SPACING_ROLE)
        return None if value is None else str(value)


class SpacingFollower(QObject):
    """Moves ``spacing`` to the sampler's own spacing while the person has not chosen one.

    Args:
        sampler: the sampler list.
        spacing: the spacing list of the same mode.
        note: a label that says why the spacing changed (hidden otherwise).
        base: the spacing used for samplers without their own (the settings' default).
    """

    def __init__(
        self, sampler: SamplerCombo, spacing: QComboBox, note: QLabel, base: Callable[[], str]
    ) -> None:
        super().__init__(sampler)
        self.sampler, self.spacing, self.note, self.base = sampler, spacing, note, base
        self.untouched = True
        self._moving = False
        note.setVisible(False)
        # ``activated``: only what the person picks counts, not values set by the program (saved
        # controls restored at start, reused parameters), which keep their spacing.
        sampler.activated.connect(self._sampler_changed)
        spacing.activated.connect(self._spacing_changed)

    def chosen(self) -> None:
        """The spacing was set on purpose (reused parameters, a restored picture): keep it."""
        self.untouched = False
        self.note.setVisible(False)

    def _spacing_changed(self, _index: int) -> None:
        if not self._moving:
            self.chosen()

    def _sampler_changed(self, _index: int) -> None:
        if not self.untouched:
            return
        own = self.sampler.default_spacing()
        target = own if own not in (None, "uniform") else self.base()
        if target != self.spacing.currentText() and self.spacing.findText(target) >= 0:
            self._moving = True
            try:
                self.spacing.setCurrentIndex(self.spacing.findText(target))
            finally:
                self._moving = False
        moved = target != self.base()
        label = short_label(self.sampler.currentText())
        self.note.setText(
            f"Spacing set to {target}: {label} does much better with it at S ≤ 20. You can change it back."
            if moved
            else ""
        )
        self.note.setVisible(moved)
