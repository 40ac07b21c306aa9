"""The dashboard service: the projector (every case topic into the read model), the dead-letter reader,
the lag reader (every consumer group's lag, from the broker), and the operators' page over the read model."""

from __future__ import annotations

from services.common import db
from services.common.runtime import ConsumerSpec, Service
from services.common.settings import Settings
from services.dashboard import operators, projector, web
from services.dashboard.agencies import PublishedDirectory
from services.dashboard.dlq_reader import DlqReader
from services.dashboard.lag_reader import LagReader
from services.dashboard.projection import TOPICS
from services.dashboard.requeue import Requeuer


def build(settings: Settings) -> Service:
    service = Service("dashboard", settings, consumers=[ConsumerSpec(projector.GROUP, TOPICS, projector.handle)])
    reader = DlqReader(settings, service.stop)
    reader.on_fatal = service.fail
    lag = LagReader(settings, service.stop)
    service.workers += [lambda _svc: reader, lambda _svc: lag]
    pool = db.Pool(settings.database_url)
    service.routers.append(web.router(pool, operators.load(settings.config_dir), Requeuer(settings, pool),
                                      lag=lambda: lag.latest,
                                      agencies=PublishedDirectory(settings.config_dir / "partners.yaml").agencies))
    return service
