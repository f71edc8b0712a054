// A folder chosen in the browser, zipped before upload: from a drop (the webkitGetAsEntry tree) or from a
// folder input (webkitRelativePath). fflate's streaming Zip compresses file by file on the page's own thread
// (its worker-based variants need blob: workers, which the Content-Security-Policy does not allow).

import { Zip, ZipDeflate } from "fflate";

export interface PickedFile {
  path: string;
  file: File;
}

export interface PickedFolder {
  name: string;
  files: PickedFile[];
  /** Folders left out (version control, dependencies, build output), as the CLI's packer leaves them out. */
  skipped: string[];
}

/** The folders `sparkctl ingest` leaves out (sparkctl.codebase.SKIPPED_DIRS); the worker skips them too. */
const SKIPPED_DIRS = new Set([
  ".git", ".hg", ".svn", ".bzr", "node_modules", "bower_components", "vendor", ".venv", "venv", "env",
  "site-packages", ".tox", ".nox", ".bundle", "build", "dist", "target", "out", "__pycache__", ".mypy_cache",
  ".pytest_cache", ".ruff_cache", ".gradle", ".idea", ".vscode", ".next", ".nuxt", ".cache", ".eggs", "coverage",
  "htmlcov",
]);

export const ARCHIVE = /\.(zip|tar|tgz|tar\.gz|tar\.bz2|tar\.xz)$/i;

function skippedDir(name: string): boolean {
  return SKIPPED_DIRS.has(name) || name.endsWith(".egg-info");
}

/** The files of a folder input (`<input webkitdirectory>`), paths relative to the chosen folder. */
export function folderFromInput(list: FileList): PickedFolder {
  const files: PickedFile[] = [];
  const skipped = new Set<string>();
  let name = "codebase";
  for (const file of Array.from(list)) {
    const parts = (file.webkitRelativePath || file.name).split("/");
    if (parts.length > 1) name = parts[0];
    const inner = parts.length > 1 ? parts.slice(1) : parts;
    const bad = inner.slice(0, -1).findIndex(skippedDir);
    if (bad >= 0) {
      skipped.add(inner.slice(0, bad + 1).join("/") + "/");
      continue;
    }
    files.push({ path: inner.join("/"), file });
  }
  return { name, files, skipped: [...skipped].sort() };
}

function entries(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

/** Every file under a dropped folder entry, skipped folders left out. */
export async function folderFromEntry(root: FileSystemDirectoryEntry): Promise<PickedFolder> {
  const files: PickedFile[] = [];
  const skipped: string[] = [];
  const walk = async (directory: FileSystemDirectoryEntry, prefix: string): Promise<void> => {
    const reader = directory.createReader();
    for (let batch = await entries(reader); batch.length; batch = await entries(reader)) {
      for (const entry of batch) {
        const path = prefix + entry.name;
        if (entry.isDirectory) {
          if (skippedDir(entry.name)) skipped.push(path + "/");
          else await walk(entry as FileSystemDirectoryEntry, path + "/");
        } else if (entry.isFile) {
          files.push({ path, file: await fileOf(entry as FileSystemFileEntry) });
        }
      }
    }
  };
  await walk(root, "");
  return { name: root.name, files, skipped: skipped.sort() };
}

/** Loose dropped files, zipped as one folder named `name`. */
export async function folderFromFiles(name: string, dropped: File[]): Promise<PickedFolder> {
  return { name, files: dropped.map((file) => ({ path: file.name, file })), skipped: [] };
}

/** The folder as a zip archive; `progress` hears how many files are in. */
export async function zipFolder(folder: PickedFolder, progress: (done: number, total: number) => void): Promise<Blob> {
  const parts: Uint8Array[] = [];
  let failure: Error | null = null;
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  const zip = new Zip((error, chunk, final) => {
    if (error) failure = error;
    else parts.push(chunk);
    if (final || error) finished();
  });
  const sorted = [...folder.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const [index, picked] of sorted.entries()) {
    const entry = new ZipDeflate(picked.path, { level: 6 });
    zip.add(entry);
    entry.push(new Uint8Array(await picked.file.arrayBuffer()), true);
    progress(index + 1, sorted.length);
    if (failure) throw failure;
  }
  zip.end();
  await done;
  if (failure) throw failure;
  return new Blob(parts as BlobPart[], { type: "application/zip" });
}
