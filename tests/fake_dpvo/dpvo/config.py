class _Cfg:
    def __init__(self):
        self.merged = []

    def merge_from_file(self, path):
        self.merged.append(path)


cfg = _Cfg()
