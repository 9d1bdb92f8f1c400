"""SentencePiece on the tokenizer.model ft-dist writes vs ft-dist's own tokenizer.

Encodes the reference strings (../shared/reference/tokenizer_vectors.jsonl) and every
Banking77 text with sentencepiece (loading the tokenizer.model of an ft-dist HF directory)
and with `ft-dist tokenize --jsonl`; prints how many agree.

Usage: python bench/check_tokenizer_model.py HF_DIR FT_DIST_BINARY
"""
import sys
from pathlib import Path

import sentencepiece as spm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_common as pc  # noqa: E402

sp = spm.SentencePieceProcessor(model_file=str(Path(sys.argv[1]) / "tokenizer.model"))
texts = pc.tokenizer_texts()
ours = pc.ftdist_tokenize(sys.argv[2], texts)
theirs = sp.encode(texts)
same = pc.report_token_agreement(texts, ours, theirs, "sentencepiece on the exported tokenizer.model: {same}/{total} texts tokenized as ft-dist does")
sys.exit(0 if same == len(texts) else 1)
