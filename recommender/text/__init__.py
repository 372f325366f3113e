"""text — Chinese text: normalisation (繁→简, full-width → half-width) and a picklable jieba
tokenizer with the domain dictionary and stopwords (``tokenizer.ChineseTokenizer``)."""
