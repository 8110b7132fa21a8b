"""All configuration, from the environment (prefix-free names, as ops expect)."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    # Empty DATABASE_URL means: start the embedded PostgreSQL under STATE_DIR.
    database_url: str = ""
    state_dir: Path = PROJECT_ROOT / ".orderflow"

    temporal_address: str = ""  # empty: start the Temporal dev server (make dev only)
    temporal_namespace: str = "default"
    task_queue: str = "orderflow"

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    temporal_port: int = 7233
    temporal_ui_port: int = 8233

    # Checkout behaviour
    reservation_ttl_seconds: int = Field(900, gt=0, description="How long a checkout holds stock")
    reservation_sweep_seconds: float = Field(30.0, gt=0, description="How often workers release expired holds")

    # Provider backends: "local" is the embedded, deterministic stand-in.
    payment_backend: Literal["local", "stripe"] = "local"
    tax_backend: Literal["local", "avalara"] = "local"
    shipping_backend: Literal["local", "easypost"] = "local"

    log_level: str = "INFO"
    log_json: bool = True

    @model_validator(mode="after")
    def _production_needs_real_providers(self) -> "Settings":
        if self.environment == "production":
            local = [n for n in ("payment", "tax", "shipping") if getattr(self, f"{n}_backend") == "local"]
            if local:
                raise ValueError(f"production refuses local stand-in backends for: {', '.join(local)}")
            if not self.database_url or not self.temporal_address:
                raise ValueError("production needs DATABASE_URL and TEMPORAL_ADDRESS")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
