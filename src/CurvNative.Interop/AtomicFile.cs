using System.Collections.Concurrent;

namespace CurvNative.Interop;

/// <summary>
/// Writes a file atomically: the content goes to a temporary file in the destination folder, which is
/// flushed to disk and then renamed over the destination. A failure at any point deletes the temporary
/// file, so the destination is either the complete new file or untouched.
/// </summary>
/// <remarks>
/// <para>A destination that is a symbolic link is resolved: its final target is replaced and the link kept.
/// A replaced regular file keeps its permission bits and, where the process may set it, its owner and group.</para>
/// <para>An existing destination that is not a regular file is never renamed over: a character device
/// (<c>/dev/null</c>, a terminal) or a FIFO is written as a stream (no atomicity is possible there), anything else
/// (a directory, a block device, a socket) is refused.</para>
/// <para>Temporary files in progress are listed in <see cref="PendingTemporaryFiles"/>; a program that ends on a
/// signal calls <see cref="DeletePendingTemporaryFiles"/> so that none is left behind (the CLI does so on SIGINT
/// and SIGTERM).</para>
/// </remarks>
public static class AtomicFile
{
    private static readonly ConcurrentDictionary<string, byte> Pending = new(StringComparer.Ordinal);

    /// <summary>Writes UTF-8 text (a JSON report, an SVG plot) atomically.</summary>
    public static void WriteAllText(string path, string text)
        => Write(path, s => { var bytes = new System.Text.UTF8Encoding(false).GetBytes(text); s.Write(bytes); });

    /// <summary>Temporary files being written right now (full paths).</summary>
    public static IReadOnlyCollection<string> PendingTemporaryFiles => [.. Pending.Keys];

    /// <summary>Deletes every temporary file still being written; for signal handlers and shutdown paths. Writes in
    /// progress then fail, leaving their destinations unchanged.</summary>
    public static void DeletePendingTemporaryFiles()
    {
        foreach (var temp in Pending.Keys)
        {
            TryDelete(temp);
            Pending.TryRemove(temp, out _);
        }
    }

    /// <summary>Runs <paramref name="write"/> on a temporary file and renames it over <paramref name="path"/>
    /// (or streams to an existing character device or FIFO; see the remarks).</summary>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Destination(path);
        string name = Path.GetFileName(full);
        string? dir = Path.GetDirectoryName(full);
        if (dir is null || name.Length == 0)
            throw new ArgumentException($"Cannot write '{path}': it does not name a file.", nameof(path));
        if (!Directory.Exists(dir))
            throw new DirectoryNotFoundException($"Cannot write '{path}': the directory '{dir}' does not exist.");
        if (Directory.Exists(full))
            throw new IOException($"Cannot write '{path}': a directory with that name exists.");

        var existing = FileStatus.Get(full);
        if (existing is { Kind: FileKind.CharacterDevice or FileKind.Fifo })
        {
            using var stream = new FileStream(full, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1 << 16);
            write(stream);
            stream.Flush();
            return;
        }
        if (existing is { Kind: not FileKind.Regular })
            throw new IOException($"Cannot write '{path}': it is {FileStatus.Describe(existing.Kind)}, not a regular file.");

        string stem = name.Length > 64 ? name[..64] : name;
        string temp = Path.Combine(dir, $".{stem}.{Guid.NewGuid().ToString("N")[..12]}.tmp");
        Pending[temp] = 0;
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            if (existing is not null) KeepModeAndOwner(temp, existing);
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception ex)
        {
            TryDelete(temp);
            if (ex is IOException io)
                throw new IOException($"Writing '{path}' failed: {io.Message} The destination was left unchanged.", io);
            if (ex is UnauthorizedAccessException ua)
                throw new UnauthorizedAccessException($"Writing '{path}' failed: {ua.Message} The destination was left unchanged.", ua);
            throw;
        }
        finally
        {
            Pending.TryRemove(temp, out _);
        }
    }

    /// <summary>The full path that will be replaced: symbolic links are followed to their final target.</summary>
    public static string Destination(string path)
    {
        string full = Path.GetFullPath(path);
        try
        {
            var info = new FileInfo(full);
            if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is { } target)
                return Path.GetFullPath(target.FullName);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return full;
    }

    private static void KeepModeAndOwner(string temp, FileStatus existing)
    {
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temp, existing.Mode);
        FileStatus.TryChown(temp, existing.Owner, existing.Group);
    }

    private static void TryDelete(string temp)
    {
        try { File.Delete(temp); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
