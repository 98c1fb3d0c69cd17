"""Every Celery task runs for one library: the one current when it was queued (a message
carries its slug), or the one a schedule names (`library` in its kwargs). Tasks keep their
signatures; the slug travels beside their arguments."""

from __future__ import annotations

import logging

from celery import Task

from config.library import by_slug, current, serving

logger = logging.getLogger(__name__)

LIBRARY_KWARG = "library"


class LibraryTask(Task):
    # The slug is an extra keyword the task's own signature does not name.
    typing = False

    def apply_async(self, args=None, kwargs=None, **options):
        kwargs = dict(kwargs or {})
        kwargs.setdefault(LIBRARY_KWARG, current().slug)
        return super().apply_async(args, kwargs, **options)

    def __call__(self, *args, **kwargs):
        slug = kwargs.pop(LIBRARY_KWARG, None)
        if slug is None:  # called directly: the caller's library
            return super().__call__(*args, **kwargs)
        library = by_slug(slug)
        if library is None:  # queued before the library left the libraries file
            logger.warning("task %s skipped: no library %r", self.name, slug)
            return None
        with serving(library):
            return super().__call__(*args, **kwargs)
