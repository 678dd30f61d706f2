using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using CurvNative.Tensors;

namespace CurvNative.Interop;

/// <summary>
/// Builds a safetensors file (https://github.com/huggingface/safetensors): tensors of float (F32),
/// double (F64) and 64-bit integers (I64), plus optional <c>__metadata__</c> strings.
/// </summary>
/// <remarks>
/// Output matches the reference writer: tensors ordered by dtype alignment (I64, F64, then F32) and then by
/// name (UTF-8 byte order), packed contiguously; compact JSON header with <c>__metadata__</c> first (keys sorted),
/// padded with spaces to a multiple of 8 bytes so every tensor starts 8-byte aligned. Tensor data is read when
/// the file is written, not when it is added.
/// </remarks>
public sealed class SafetensorsWriter
{
    private sealed record Item(string Name, byte[] Utf8Name, string DType, int Rank, int[] Shape, long Bytes, Action<Stream> WriteData);

    private readonly Dictionary<string, Item> _items = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, string> _metadata = new(StringComparer.Ordinal);

    /// <summary>Number of tensors added.</summary>
    public int Count => _items.Count;

    /// <summary>Adds a float tensor, written as F32.</summary>
    /// <exception cref="ArgumentException">The name is already used, reserved (<c>__metadata__</c>) or not valid UTF-16.</exception>
    public SafetensorsWriter Add(string name, Tensor<float> tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return AddItem(name, SafetensorsFile.F32, 0, tensor.ShapeArray, 4L * tensor.Length, s => LittleEndian.Write<float>(s, tensor.Span));
    }

    /// <summary>Adds a double tensor, written as F64.</summary>
    /// <exception cref="ArgumentException">The name is already used, reserved (<c>__metadata__</c>) or not valid UTF-16.</exception>
    public SafetensorsWriter Add(string name, Tensor<double> tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return AddItem(name, SafetensorsFile.F64, 1, tensor.ShapeArray, 8L * tensor.Length, s => LittleEndian.Write<double>(s, tensor.Span));
    }

    /// <summary>Adds a 64-bit integer tensor, written as I64.</summary>
    /// <exception cref="ArgumentException">The name is already used, reserved (<c>__metadata__</c>) or not valid UTF-16.</exception>
    public SafetensorsWriter Add(string name, Int64Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return AddItem(name, SafetensorsFile.I64, 2, tensor.ShapeArray, 8L * tensor.Length, s => LittleEndian.Write<long>(s, tensor.Data));
    }

    /// <summary>Adds a <c>__metadata__</c> entry.</summary>
    /// <exception cref="ArgumentException">The key is already set, or a string is not valid UTF-16.</exception>
    public SafetensorsWriter AddMetadata(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        if (!Text.IsWellFormed(key) || !Text.IsWellFormed(value))
            throw new ArgumentException($"Metadata entry {Text.Quote(key)} contains a lone surrogate and cannot be encoded as UTF-8.", nameof(key));
        if (!_metadata.TryAdd(key, value))
            throw new ArgumentException($"Metadata key {Text.Quote(key)} was already added.", nameof(key));
        return this;
    }

    private SafetensorsWriter AddItem(string name, string dtype, int rank, int[] shape, long bytes, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name == SafetensorsFile.MetadataKey)
            throw new ArgumentException($"'{SafetensorsFile.MetadataKey}' is reserved for metadata and cannot name a tensor.", nameof(name));
        if (!Text.IsWellFormed(name))
            throw new ArgumentException($"Tensor name {Text.Quote(name)} contains a lone surrogate and cannot be encoded as UTF-8.", nameof(name));
        if (!_items.TryAdd(name, new Item(name, Encoding.UTF8.GetBytes(name), dtype, rank, shape, bytes, write)))
            throw new ArgumentException($"A tensor named {Text.Quote(name)} was already added.", nameof(name));
        return this;
    }

    private List<Item> Ordered()
    {
        var items = _items.Values.ToList();
        items.Sort((a, b) =>
        {
            int c = b.Rank.CompareTo(a.Rank);
            return c != 0 ? c : a.Utf8Name.AsSpan().SequenceCompareTo(b.Utf8Name);
        });
        return items;
    }

    /// <summary>The 8-byte length prefix plus the padded JSON header, for the given tensor order.</summary>
    private byte[] Header(List<Item> items)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (_metadata.Count > 0)
            {
                w.WriteStartObject(SafetensorsFile.MetadataKey);
                foreach (var (k, v) in _metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var item in items)
            {
                w.WriteStartObject(item.Name);
                w.WriteString("dtype", item.DType);
                w.WriteStartArray("shape");
                foreach (int d in item.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                offset += item.Bytes;
                w.WriteNumberValue(offset);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        int json = buffer.WrittenCount;
        int padded = (json + 7) / 8 * 8;
        if (padded > SafetensorsFile.MaxHeaderBytes)
            throw new InvalidOperationException($"The safetensors header would be {padded} bytes, more than the {SafetensorsFile.MaxHeaderBytes} readers accept.");
        var result = new byte[8 + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)padded);
        buffer.WrittenSpan.CopyTo(result.AsSpan(8));
        result.AsSpan(8 + json).Fill((byte)' ');
        return result;
    }

    /// <summary>Writes the file to a stream (not atomic; see <see cref="Write(string)"/> for files).</summary>
    public void Write(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var items = Ordered();
        stream.Write(Header(items));
        foreach (var item in items) item.WriteData(stream);
    }

    /// <summary>
    /// Writes the file atomically: to a temporary file in the destination folder, flushed, then renamed over
    /// <paramref name="path"/>. On failure the destination is untouched and the temporary file is removed.
    /// </summary>
    /// <exception cref="IOException">The file cannot be written; <see cref="DirectoryNotFoundException"/> when its directory does not exist.</exception>
    public void Write(string path)
    {
        var items = Ordered();
        byte[] header = Header(items); // fail before touching the disk
        AtomicFile.Write(path, s =>
        {
            s.Write(header);
            foreach (var item in items) item.WriteData(s);
        });
    }

    /// <summary>The complete file as a byte array.</summary>
    public byte[] ToArray()
    {
        using var ms = new MemoryStream();
        Write(ms);
        return ms.ToArray();
    }
}
