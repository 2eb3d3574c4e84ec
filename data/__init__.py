"""OFA's data pipeline: TSV rows, base64 images, GPT-2 BPE vocabulary, task datasets."""
from .caption_dataset import CaptionDataset
from .constraints import AnswerTrie
from .images import decode_image, image_transform
from .ofa_dataset import OFATSVDataset, collate_samples, decoder_io
from .snli_ve_dataset import SnliVeDataset, answer_candidates, answer_trie, candidate_answer_masks, candidate_inputs
from .tsv import TSVReader
from .vocabulary import OFAVocabulary, default_bpe_dir, load_gpt2_bpe, load_ofa_dictionary

__all__ = [
    "AnswerTrie",
    "CaptionDataset",
    "OFATSVDataset",
    "OFAVocabulary",
    "SnliVeDataset",
    "TSVReader",
    "answer_candidates",
    "answer_trie",
    "candidate_answer_masks",
    "candidate_inputs",
    "collate_samples",
    "decode_image",
    "decoder_io",
    "default_bpe_dir",
    "image_transform",
    "load_gpt2_bpe",
    "load_ofa_dictionary",
]
