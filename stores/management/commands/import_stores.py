from core.management_import import ImportCommand
from stores.services import stores_import_csv


class Command(ImportCommand):
    help = "Import stores from a CSV file (columns: see the store import page or examples/stores.csv)."
    kind = "stores"

    def import_file(self, *, merchant, file, actor, mode):
        return stores_import_csv(merchant=merchant, file=file, actor=actor, mode=mode)
