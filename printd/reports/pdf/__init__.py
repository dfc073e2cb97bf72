"""The office's documents as PDF: daily and monthly stock reports, the stock notice, requests, berita acara."""

from printd.reports.pdf.berita_acara import berita_acara_pdf
from printd.reports.pdf.daily import daily_report_pdf
from printd.reports.pdf.dates import tanggal_panjang
from printd.reports.pdf.fonts import MissingFontsError
from printd.reports.pdf.monthly import monthly_report_pdf
from printd.reports.pdf.notice import stock_notice_pdf
from printd.reports.pdf.request_letter import request_letter_pdf
from printd.reports.pdf.words import format_number, terbilang

__all__ = [
    "MissingFontsError",
    "berita_acara_pdf",
    "daily_report_pdf",
    "format_number",
    "monthly_report_pdf",
    "request_letter_pdf",
    "stock_notice_pdf",
    "tanggal_panjang",
    "terbilang",
]
