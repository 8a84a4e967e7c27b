"""rewards: training rewards in TRL's calling convention; see docs/ARCHITECTURE.md."""

from hawkeye_bench.rewards.hawkeye import AsyncHawkeyeReward, HawkeyeReward
from hawkeye_bench.rewards.length import (
    CosineScaledReward,
    KimiLengthReward,
    SoftOverlongPunishment,
    ThinkFormatReward,
)

__all__ = [
    "AsyncHawkeyeReward",
    "CosineScaledReward",
    "HawkeyeReward",
    "KimiLengthReward",
    "SoftOverlongPunishment",
    "ThinkFormatReward",
]
