# graphite-web local_settings for golden-vector generation (imported by graphite.settings)
import os
_WORK = os.path.dirname(os.path.abspath(__file__))
SECRET_KEY = 'golden-vectors-not-secret'
TIME_ZONE = 'UTC'
ALLOWED_HOSTS = ['*']
STORAGE_DIR = os.path.join(_WORK, 'storage')
WHISPER_DIR = os.path.join(_WORK, 'whisper')
STANDARD_DIRS = [WHISPER_DIR]
LOG_DIR = os.path.join(_WORK, 'log')
INDEX_FILE = os.path.join(_WORK, 'storage', 'index')
STORAGE_FINDERS = ('graphite.finders.standard.StandardFinder',)
TAGDB = 'graphite.tags.localdatabase.LocalDatabaseTagDB'
DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3',
                         'NAME': os.path.join(_WORK, 'graphite.db')}}
MEMCACHE_HOSTS = []
CACHES = {'default': {'BACKEND': 'django.core.cache.backends.dummy.DummyCache'}}
# RENDER_TRIM_RECENT_IN_AGGREGATE and DEFAULT_XFILES_FACTOR deliberately left at defaults (False, 0)
