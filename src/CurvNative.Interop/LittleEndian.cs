using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CurvNative.Interop;

/// <summary>Bulk little-endian I/O of primitive arrays, in chunks so spans of more than 2 GB are fine.</summary>
internal static class LittleEndian
{
    private const int ChunkBytes = 1 << 22;

    /// <summary>Fills <paramref name="dst"/> from the stream; throws <see cref="EndOfStreamException"/> when it ends early.</summary>
    public static void Read<TElem>(Stream s, Span<TElem> dst) where TElem : unmanaged
    {
        int size = Unsafe.SizeOf<TElem>();
        int chunk = ChunkBytes / size;
        for (int i = 0; i < dst.Length; i += chunk)
        {
            var part = dst.Slice(i, Math.Min(chunk, dst.Length - i));
            s.ReadExactly(MemoryMarshal.AsBytes(part));
            if (!BitConverter.IsLittleEndian) Swap(part);
        }
    }

    /// <summary>Writes <paramref name="src"/> to the stream in little-endian byte order.</summary>
    public static void Write<TElem>(Stream s, ReadOnlySpan<TElem> src) where TElem : unmanaged
    {
        int size = Unsafe.SizeOf<TElem>();
        int chunk = ChunkBytes / size;
        for (int i = 0; i < src.Length; i += chunk)
        {
            var part = src.Slice(i, Math.Min(chunk, src.Length - i));
            if (BitConverter.IsLittleEndian) s.Write(MemoryMarshal.AsBytes(part));
            else
            {
                var copy = part.ToArray();
                Swap<TElem>(copy);
                s.Write(MemoryMarshal.AsBytes<TElem>(copy));
            }
        }
    }

    private static void Swap<TElem>(Span<TElem> span) where TElem : unmanaged
    {
        switch (Unsafe.SizeOf<TElem>())
        {
            case 4: { var u = MemoryMarshal.Cast<TElem, uint>(span); BinaryPrimitives.ReverseEndianness(u, u); break; }
            case 8: { var u = MemoryMarshal.Cast<TElem, ulong>(span); BinaryPrimitives.ReverseEndianness(u, u); break; }
            default: throw new NotSupportedException($"No byte swap for elements of {Unsafe.SizeOf<TElem>()} bytes.");
        }
    }

    /// <summary>Skips <paramref name="count"/> bytes of a seekable stream, or throws <see cref="EndOfStreamException"/>.</summary>
    public static void Skip(Stream s, long count)
    {
        if (count == 0) return;
        if (s.Length - s.Position < count) throw new EndOfStreamException();
        s.Seek(count, SeekOrigin.Current);
    }

    /// <summary>A stream that can seek and report its length: the stream itself, or a copy of its remaining bytes.</summary>
    public static Stream Seekable(Stream s)
    {
        if (s.CanSeek) return s;
        var ms = new MemoryStream();
        s.CopyTo(ms);
        ms.Position = 0;
        return ms;
    }
}
