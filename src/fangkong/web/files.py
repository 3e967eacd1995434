"""Uploads and downloads shared by pages and the API."""

from __future__ import annotations

from fastapi import UploadFile
from pydantic import BaseModel
from starlette.responses import Response

from fangkong.errors import InvalidInput
from fangkong.imports import Reject

# A web upload is read into memory; larger files go through the CLI
# (`fangkong people import`) on the server.
MAX_UPLOAD_BYTES = 256 * 1024 * 1024

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def read_upload(file: UploadFile, field: str = "file") -> bytes:
    data = file.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInput(
            field,
            f"文件超过 {MAX_UPLOAD_BYTES // 2**20} MiB，请在服务器上用命令行导入 "
            f"(larger than {MAX_UPLOAD_BYTES // 2**20} MiB; import it with the command line)",
        )
    return data


def attachment(data: bytes, fmt: str, filename: str) -> Response:
    """A file download; ``filename`` must be ASCII (codes and digits)."""
    return Response(
        data,
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


class RejectOut(BaseModel):
    """A rejected row of an uploaded file, as every import API answers it."""

    row: int
    column: str
    value: str
    reason: str
    reason_en: str


def rejects_out(rejects: list[Reject]) -> list[RejectOut]:
    return [
        RejectOut(
            row=r.row_number,
            column=r.column,
            value=r.value,
            reason=r.reason_zh,
            reason_en=r.reason_en,
        )
        for r in rejects
    ]
