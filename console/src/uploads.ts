import { api } from './api';

export interface Upload {
  documentId: string;
  url: string | null;
  filename: string;
  contentType: string;
  size: number;
  status: string;
}

/** Headers the browser sets itself and refuses from script. */
const FORBIDDEN = new Set(['content-length', 'host']);

/**
 * Strapi-style upload through a presigned URL: announce the file, PUT the bytes
 * straight to S3 (progress from the XHR upload events, which fetch lacks), then ask
 * the API to check the object and mark it ready.
 */
export async function uploadFile(file: File, onProgress: (percent: number) => void): Promise<Upload> {
  const announced = await api<{ data: Upload & { upload: { method: string; url: string; headers: Record<string, string> } } }>(
    '/admin/uploads',
    { method: 'POST', json: { data: { filename: file.name, contentType: file.type, size: file.size } } },
  );
  const { documentId, upload } = announced.body.data;
  await new Promise<void>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(upload.method, upload.url);
    for (const [name, value] of Object.entries(upload.headers)) {
      if (!FORBIDDEN.has(name.toLowerCase())) xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(Math.round((e.loaded / e.total) * 100));
    xhr.onload = () => (xhr.status < 300 ? resolve() : reject(new Error(`storage answered ${xhr.status}`)));
    xhr.onerror = () => reject(new Error('the upload did not reach storage'));
    xhr.send(file);
  });
  onProgress(100);
  const done = await api<{ data: Upload }>(`/admin/uploads/${encodeURIComponent(documentId)}/complete`, {
    method: 'POST',
  });
  return done.body.data;
}
