"""What both order panels ask for: the execution policy (algorithm, urgency, slices, horizon,
participation, randomisation) and the strike, picked from the option chain."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QWidget,
)

from ...algos.registry import ALGORITHMS, algorithm_for
from ...request import MAX_CHILD_ORDERS, Urgency
from .tickets import ChainSnapshot, ExecutionPolicy

URGENCIES = [u.value for u in Urgency]


class PolicyForm(QWidget):
    """Algorithm, urgency, slices, horizon, participation, randomisation."""

    def __init__(self, parent: QWidget | None = None, *, mnemonics: bool = True) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(4)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.algo = QComboBox(self)
        self.algo.addItems(list(ALGORITHMS))  # the built-ins, and any registered
        self.algo.setToolTip("IMMEDIATE: now (split only above the freeze quantity) · TWAP: "
                             "equal slices · VWAP: volume-curve slices · POV: a share of market "
                             "volume · IS: front-loaded (Almgren–Chriss)")
        self.urgency = QComboBox(self)
        self.urgency.addItems(URGENCIES)
        self.urgency.setToolTip("high takes liquidity and front-loads IS")
        self.slices = QSpinBox(self)
        self.slices.setRange(1, MAX_CHILD_ORDERS)
        self.slices.setValue(5)
        self.slices.setToolTip("max_child_orders: the most time slices the schedule may use")
        self.horizon = QSpinBox(self)
        self.horizon.setRange(5, 7 * 3600)
        self.horizon.setSingleStep(30)
        self.horizon.setValue(300)
        self.horizon.setSuffix(" s")
        self.horizon.setToolTip("How long a scheduled algorithm works the order")
        self.participation = QDoubleSpinBox(self)
        self.participation.setRange(1.0, 100.0)
        self.participation.setDecimals(0)
        self.participation.setValue(15.0)
        self.participation.setSuffix(" %")
        self.participation.setToolTip("POV target share of market volume (also the impact hint)")
        self.randomize = QCheckBox("&Randomize slices" if mnemonics else "Randomize slices", self)
        self.randomize.setChecked(True)
        self.randomize.setToolTip("Seeded jitter of slice sizes (whole lots) and send times")
        labels = ("&Algorithm", "Urge&ncy", "Sl&ices", "&Horizon", "Par&ticipation") \
            if mnemonics else ("Algorithm", "Urgency", "Slices", "Horizon", "Participation")
        for text, field in zip(labels, (self.algo, self.urgency, self.slices, self.horizon,
                                        self.participation), strict=True):
            label = QLabel(text, self)
            label.setBuddy(field)
            form.addRow(label, field)
        form.addRow("", self.randomize)
        self.algo.currentTextChanged.connect(self._enable_fields)
        self._enable_fields(self.algo.currentText())

    def _enable_fields(self, algo: str) -> None:
        algorithm = algorithm_for(algo)
        self.slices.setEnabled(algorithm.scheduled)
        self.horizon.setEnabled(algorithm.scheduled)
        self.participation.setEnabled(algorithm.targets_participation)

    def policy(self) -> ExecutionPolicy:
        return ExecutionPolicy(algo=self.algo.currentText(), urgency=self.urgency.currentText(),
                               slices=self.slices.value(), horizon_s=float(self.horizon.value()),
                               participation=self.participation.value() / 100.0,
                               randomize=self.randomize.isChecked())

    def set_policy(self, policy: ExecutionPolicy) -> None:
        self.algo.setCurrentText(policy.algo)
        self.urgency.setCurrentText(policy.urgency)
        self.slices.setValue(policy.slices)
        self.horizon.setValue(round(policy.horizon_s))
        self.participation.setValue(policy.participation * 100.0)
        self.randomize.setChecked(policy.randomize)


class StrikePicker(QComboBox):
    """The chain's strikes, ATM marked; keeps the chosen strike across chain refreshes."""

    def set_snapshot(self, snapshot: ChainSnapshot) -> None:
        strikes = snapshot.strikes
        if [self.itemData(i) for i in range(self.count())] == strikes:
            return
        current = self.currentData()
        self.blockSignals(True)
        self.clear()
        for strike in strikes:
            atm = abs(strike - snapshot.view.atm_strike) < 1e-6
            self.addItem(f"{strike:,.0f}" + ("  ATM" if atm else ""), strike)
        # The strike chosen stays when the new chain has it; otherwise the money (a strike of
        # another underlying or expiry is never kept, nor the chain's first row taken).
        index = self.findData(current) if current is not None else -1
        if index < 0:
            index = max(0, self.findData(snapshot.view.atm_strike))
        self.setCurrentIndex(index)
        self.blockSignals(False)
        self.currentIndexChanged.emit(self.currentIndex())

    def strike(self) -> float | None:
        value = self.currentData()
        return float(value) if value is not None else None

    def set_strike(self, strike: float) -> bool:
        i = self.findData(strike)
        if i >= 0:
            self.setCurrentIndex(i)
        return i >= 0
