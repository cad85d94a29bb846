"""The catalogue tables: products, images, import problems."""
from __future__ import annotations

import time
from collections.abc import Iterable

import pandas as pd

from .base import StoreBase, _chunks, _marks


class CatalogueTables(StoreBase):
    """Products, images and the problems of the last import."""

    def replace_catalogue(self, products: pd.DataFrame, images: pd.DataFrame,
                          problems: pd.DataFrame, source: str) -> None:
        """Swap the whole catalogue in one transaction; the pose cache and labels stay."""
        prod_rows = [
            (r.product_id, r.title, r.category, r.subcategory, r.product_type,
             None if pd.isna(r.avg_rating) else float(r.avg_rating),
             None if pd.isna(r.n_ratings) else int(r.n_ratings), r.attrs)
            for r in products.itertuples(index=False)
        ]
        img_rows = [
            (r.product_id, int(r.position), r.path, r.rel_path, r.content_hash,
             int(r.width), int(r.height), r.pose_label, r.attrs)
            for r in images.itertuples(index=False)
        ]
        prob_rows = [(None if pd.isna(r.row) else int(r.row), r.product_id, r.kind, r.detail)
                     for r in problems.itertuples(index=False)]
        with self._write() as c:
            c.execute("DELETE FROM products")
            c.execute("DELETE FROM images")
            c.execute("DELETE FROM import_problems")
            c.executemany("INSERT INTO products VALUES(?,?,?,?,?,?,?,?)", prod_rows)
            c.executemany(
                "INSERT INTO images(product_id, position, path, rel_path, content_hash, width, height,"
                " pose_label, attrs) VALUES(?,?,?,?,?,?,?,?,?)", img_rows)
            c.executemany("INSERT INTO import_problems VALUES(?,?,?,?)", prob_rows)
            c.execute("INSERT OR REPLACE INTO meta VALUES('catalogue_source', ?)", (source,))
            c.execute("INSERT OR REPLACE INTO meta VALUES('catalogue_imported_at', ?)", (str(time.time()),))

    def products(self) -> pd.DataFrame:
        return self._df("SELECT * FROM products ORDER BY product_id")

    def has_catalogue(self) -> bool:
        return self._one("SELECT 1 FROM products LIMIT 1") is not None

    def product_titles(self) -> dict[str, str]:
        """product_id -> title."""
        return dict(self._rows("SELECT product_id, title FROM products"))

    def images(self) -> pd.DataFrame:
        return self._df("SELECT * FROM images ORDER BY product_id, position, image_id")

    def n_images(self) -> int:
        """Catalogue images (rows, not distinct contents)."""
        return int(self._one("SELECT COUNT(*) FROM images")[0])

    def image_counts(self) -> dict[str, int]:
        """product_id -> its number of catalogue images (products without images absent): what
        ``images().groupby("product_id").size()`` gives, counted in SQL on the product index."""
        return dict(self._rows("SELECT product_id, COUNT(*) FROM images GROUP BY product_id"))

    def n_unique_images(self) -> int:
        """Distinct image contents in the catalogue (what the pose cache is keyed by)."""
        return int(self._one("SELECT COUNT(DISTINCT content_hash) FROM images")[0])

    def image_hash(self, image_id: int) -> str | None:
        row = self._one("SELECT content_hash FROM images WHERE image_id=?", (int(image_id),))
        return None if row is None else row[0]

    def image_paths(self, hashes: Iterable[str] | None = None) -> dict[str, str]:
        """content_hash -> one catalogue path holding that content (all contents, or the given
        ones that are still in the catalogue)."""
        sql = "SELECT content_hash, MIN(path) FROM images"
        if hashes is None:
            return dict(self._rows(sql + " GROUP BY content_hash"))
        out: dict[str, str] = {}
        for chunk in _chunks(list(dict.fromkeys(h for h in hashes if h))):
            out.update(self._rows(sql + f" WHERE content_hash IN ({_marks(len(chunk))}) GROUP BY content_hash",
                                  chunk))
        return out

    def pose_labels(self) -> dict[str, str]:
        """content_hash -> the catalogue's pose_label for that content, where one is given."""
        return dict(self._rows("SELECT content_hash, MIN(pose_label) FROM images"
                               " WHERE pose_label IS NOT NULL GROUP BY content_hash"))

    def import_problems(self) -> pd.DataFrame:
        return self._df("SELECT * FROM import_problems ORDER BY row")
