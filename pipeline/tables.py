"""Every table of the domain, for a complete `Base.metadata`: each package keeps its own tables
in its `models.py`, and importing this module loads them all. (The API's own tables live in
`pipeline.api.models`; Alembic's environment loads both.)"""

from pipeline.content import models as content_models
from pipeline.events import models as events_models
from pipeline.observe import models as observe_models
from pipeline.publish import models as publish_models
from pipeline.related import models as related_models
from pipeline.schema import Base
from pipeline.site import models as site_models

MODULES = (content_models, events_models, observe_models, publish_models, related_models,
           site_models)  # fmt: skip
metadata = Base.metadata
