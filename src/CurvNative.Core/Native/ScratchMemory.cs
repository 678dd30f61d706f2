using System.Runtime.InteropServices;

namespace CurvNative.Native;

/// <summary>
/// A native scratch buffer for LAPACK workspaces. A large one (from 4 MB) is mapped on its own and, on Linux, advised
/// to use transparent huge pages: glibc maps allocations above 32 MB afresh on every call, and the float32 syevd
/// workspace of a 2049 x 2049 factor (~34 MB) then took ~8,700 page faults per decomposition (on this VM ~10 us each,
/// about a seventh of the decomposition); 2 MB pages take ~17. Elsewhere, or if the mapping fails, it is
/// <see cref="NativeMemory"/>. Dispose exactly once.
/// </summary>
internal readonly unsafe partial struct ScratchBuffer<T> : IDisposable where T : unmanaged
{
    private const nuint HugeFrom = 4u << 20;
    private const int ProtRead = 1, ProtWrite = 2, MapPrivate = 2, MapAnonymous = 0x20, MadvHugepage = 14;

    private readonly nuint _bytes;
    private readonly bool _mapped;

    /// <summary>An uninitialised buffer of <paramref name="count"/> elements (at least one).</summary>
    public ScratchBuffer(nuint count)
    {
        _bytes = Math.Max(count, 1) * (nuint)sizeof(T);
        if (_bytes >= HugeFrom && OperatingSystem.IsLinux())
        {
            var p = ScratchMemory.mmap(null, _bytes, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
            if (p != (void*)-1)
            {
                ScratchMemory.madvise(p, _bytes, MadvHugepage); // advice only: without huge pages the mapping still works
                Pointer = (T*)p;
                _mapped = true;
                return;
            }
        }
        Pointer = (T*)NativeMemory.Alloc(_bytes);
    }

    public T* Pointer { get; }

    public void Dispose()
    {
        if (_mapped) ScratchMemory.munmap(Pointer, _bytes);
        else NativeMemory.Free(Pointer);
    }
}

internal static unsafe partial class ScratchMemory
{
    [LibraryImport("libc")] internal static partial void* mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);
    [LibraryImport("libc")] internal static partial int munmap(void* addr, nuint length);
    [LibraryImport("libc")] internal static partial int madvise(void* addr, nuint length, int advice);
}
