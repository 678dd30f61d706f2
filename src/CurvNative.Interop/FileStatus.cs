using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace CurvNative.Interop;

/// <summary>The type of a file system entry, from the <c>S_IFMT</c> bits of its mode.</summary>
public enum FileKind
{
    /// <summary>A regular file.</summary>
    Regular,
    /// <summary>A directory.</summary>
    Directory,
    /// <summary>A character device such as <c>/dev/null</c> or a terminal.</summary>
    CharacterDevice,
    /// <summary>A block device such as a disk.</summary>
    BlockDevice,
    /// <summary>A named pipe (FIFO).</summary>
    Fifo,
    /// <summary>A Unix domain socket.</summary>
    Socket,
    /// <summary>A symbolic link (only seen when links are not followed).</summary>
    SymbolicLink,
    /// <summary>Anything else.</summary>
    Other,
}

/// <summary>
/// What <c>statx(2)</c> reports about a path, symbolic links followed: type, identity (device and inode,
/// equal for two paths exactly when they name the same file, hard links included), permission bits and owner.
/// </summary>
/// <remarks>
/// Used wherever a path given by a user must be checked before it is read or written: <see cref="AtomicFile"/>
/// (never rename over a device or FIFO; keep a replaced file's mode and owner), model-spec loading (refuse
/// non-regular files) and the command line's input/output guard (an output that is an input). New readers
/// (ONNX models, PDE point sets) should call <see cref="Get"/> the same way instead of probing on their own.
/// </remarks>
public sealed record FileStatus(FileKind Kind, ulong Device, ulong Inode, UnixFileMode Mode, uint Owner, uint Group, long Size)
{
    /// <summary>The status of <paramref name="path"/> (links followed), or null when it does not exist, cannot be
    /// examined, or the platform has no <c>statx</c> (callers then fall back to comparing full paths).</summary>
    public static FileStatus? Get(string path)
    {
        if (!OperatingSystem.IsLinux() || string.IsNullOrEmpty(path)) return null;
        Span<byte> buffer = stackalloc byte[256];
        try
        {
            if (Statx(AtFdCwd, path, 0, StatxBasicStats, ref MemoryMarshal.GetReference(buffer)) != 0) return null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return null; }
        // struct statx (linux/stat.h) has the same layout on every architecture.
        uint uid = BinaryPrimitives.ReadUInt32LittleEndian(buffer[20..]);
        uint gid = BinaryPrimitives.ReadUInt32LittleEndian(buffer[24..]);
        ushort mode = BinaryPrimitives.ReadUInt16LittleEndian(buffer[28..]);
        ulong inode = BinaryPrimitives.ReadUInt64LittleEndian(buffer[32..]);
        long size = BinaryPrimitives.ReadInt64LittleEndian(buffer[40..]);
        ulong device = ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(buffer[136..]) << 32) | BinaryPrimitives.ReadUInt32LittleEndian(buffer[140..]);
        var kind = (mode & 0xF000) switch
        {
            0x8000 => FileKind.Regular,
            0x4000 => FileKind.Directory,
            0x2000 => FileKind.CharacterDevice,
            0x6000 => FileKind.BlockDevice,
            0x1000 => FileKind.Fifo,
            0xC000 => FileKind.Socket,
            0xA000 => FileKind.SymbolicLink,
            _ => FileKind.Other,
        };
        return new FileStatus(kind, device, inode, (UnixFileMode)(mode & 0xFFF), uid, gid, size);
    }

    /// <summary>True when both describe the same file (same device and inode).</summary>
    public bool IsSameFile(FileStatus other) => Device == other.Device && Inode == other.Inode;

    /// <summary>The type in words, for messages ("a FIFO", "a character device").</summary>
    public static string Describe(FileKind kind) => kind switch
    {
        FileKind.Regular => "a regular file",
        FileKind.Directory => "a directory",
        FileKind.CharacterDevice => "a character device",
        FileKind.BlockDevice => "a block device",
        FileKind.Fifo => "a FIFO (named pipe)",
        FileKind.Socket => "a socket",
        FileKind.SymbolicLink => "a symbolic link",
        _ => "a special file",
    };

    /// <summary>Gives <paramref name="path"/> this owner and group; false when not permitted
    /// (only root may give a file away), which callers treat as best effort, as <c>sed -i</c> does.</summary>
    internal static bool TryChown(string path, uint owner, uint group)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try { return Chown(path, owner, group) == 0; }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return false; }
    }

    private const int AtFdCwd = -100;
    private const uint StatxBasicStats = 0x7ff;

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int Statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, ref byte buffer);

    [DllImport("libc", EntryPoint = "chown", SetLastError = true)]
    private static extern int Chown([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint owner, uint group);
}
