"""Label views: the labelling queue, the images the view reader is least sure of first, with keys."""
from __future__ import annotations

from ui import frame
from ui.common import require_run
from ui.view_labels import queue_page

with frame.page("Label views") as page:
    queue_page(page.store, require_run(page.store))
