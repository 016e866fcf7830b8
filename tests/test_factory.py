"""The seed's configuration example: ``create_mlops_stack(config)`` then ``await initialize()``."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mlops.config import MLOpsConfig
from mlops.factory import create_mlops_stack
from mlops.handles import Completed


def test_seed_configuration_example_runs(tmp_path: Path) -> None:
    config = MLOpsConfig(
        experiment_tracking={
            "backend": "mlops",
            "tracking_uri": f"sqlite:///{tmp_path / 'stack.db'}",
            "artifact_store": str(tmp_path / "artifacts"),
        },
        model_registry={"backend": "mlops", "stage_transitions": True, "approval_required": True},
        monitoring={
            "drift_detection": True,
            "performance_monitoring": True,
            "alert_channels": ["slack", "email"],
            "dashboard_enabled": True,
        },
        deployment={
            "platform": "kubernetes",
            "auto_scaling": True,
            "canary_deployment": True,
            "rollback_enabled": True,
        },
    )
    mlops_stack = create_mlops_stack(config)

    async def main() -> None:
        await mlops_stack.initialize()

    asyncio.run(main())
    assert (tmp_path / "stack.db").exists()
    assert mlops_stack.registry.config.model_registry.approval_required
    assert mlops_stack.initialize().wait() is mlops_stack  # plain scripts need no event loop
    mlops_stack.close()


def test_completed_handle() -> None:
    async def get() -> int:
        return await Completed(3)

    assert asyncio.run(get()) == 3
    assert Completed("x").wait() == "x"
