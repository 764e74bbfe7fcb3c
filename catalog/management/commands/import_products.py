from catalog.services import products_import_csv
from core.management_import import ImportCommand


class Command(ImportCommand):
    help = "Import products from a CSV file (columns: sku, name, category, brand, price, active)."
    kind = "products"

    def import_file(self, *, merchant, file, actor, mode):
        return products_import_csv(merchant=merchant, file=file, actor=actor, mode=mode)
