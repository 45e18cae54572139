-- What each desk user reads (i18n/): zh_CN or en; NULL follows the default (zh_CN, the staff's language).
ALTER TABLE users ADD COLUMN IF NOT EXISTS locale text CHECK (locale IN ('zh_CN', 'en'));

-- What people call a zone (1号窗口, 3号查验道), mirrored from the site config: the desk titles alerts with it.
ALTER TABLE zones ADD COLUMN IF NOT EXISTS name text;

-- What a site's people read (reports, pushes): mirrored from site.language.
ALTER TABLE sites ADD COLUMN IF NOT EXISTS language text NOT NULL DEFAULT 'zh_CN' CHECK (language IN ('zh_CN', 'en'));
