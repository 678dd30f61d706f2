using System.Buffers.Binary;
using System.Collections.ObjectModel;
using System.Numerics;
using System.Text.Json;
using System.Text.Unicode;
using CurvNative.Tensors;

namespace CurvNative.Interop;

/// <summary>
/// A loaded safetensors file (Hugging Face format, https://github.com/huggingface/safetensors):
/// an 8-byte little-endian unsigned header length N, N bytes of UTF-8 JSON
/// <c>{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, "__metadata__": {"k": "v"}}</c>
/// (padded with spaces), then the data section; offsets are relative to the data section, elements are
/// little-endian and row-major.
/// </summary>
/// <remarks>
/// <para>Reading validates the whole header up front, as the reference implementation does: header at most
/// 100 MB and inside the file, valid UTF-8 JSON object, every tensor with a known dtype, a shape of
/// non-negative integers and offsets whose length equals element count times dtype size, tensors packed
/// contiguously from offset 0 to the end of the file with no overlap, gap or trailing bytes, no duplicate keys.
/// Any violation throws <see cref="CurvNativeFormatException"/>.</para>
/// <para>Tensors of dtype F32, F64 and I64 are loaded into memory; other known dtypes (BF16, I32, ...) are listed
/// by <see cref="Names"/> and <see cref="GetInfo"/> but not loaded, and asking for their data throws.</para>
/// </remarks>
public sealed class SafetensorsFile
{
    /// <summary>The dtype string of 32-bit IEEE floats.</summary>
    public const string F32 = "F32";
    /// <summary>The dtype string of 64-bit IEEE floats.</summary>
    public const string F64 = "F64";
    /// <summary>The dtype string of 64-bit signed integers.</summary>
    public const string I64 = "I64";

    /// <summary>The largest header accepted, in bytes (100 MB, the reference implementation's limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    internal const string MetadataKey = "__metadata__";

    /// <summary>Bits per element of every dtype the format defines; used to validate offsets of all tensors.</summary>
    internal static readonly IReadOnlyDictionary<string, int> DTypeBits = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["BOOL"] = 8, ["U8"] = 8, ["I8"] = 8, ["F8_E5M2"] = 8, ["F8_E4M3"] = 8, ["F8_E8M0"] = 8,
        ["I16"] = 16, ["U16"] = 16, ["F16"] = 16, ["BF16"] = 16,
        ["I32"] = 32, ["U32"] = 32, [F32] = 32,
        [F64] = 64, [I64] = 64, ["U64"] = 64,
        ["F4"] = 4, ["F6_E2M3"] = 6, ["F6_E3M2"] = 6,
    };

    private readonly Dictionary<string, (SafetensorsTensorInfo Info, Array? Data)> _entries;

    private SafetensorsFile(string source, IReadOnlyDictionary<string, string> metadata, List<(SafetensorsTensorInfo Info, Array? Data)> entries)
    {
        Source = source;
        Metadata = metadata;
        _entries = new Dictionary<string, (SafetensorsTensorInfo, Array?)>(entries.Count, StringComparer.Ordinal);
        foreach (var e in entries) _entries.Add(e.Info.Name, e);
        Names = entries.Select(e => e.Info.Name).ToList().AsReadOnly();
    }

    /// <summary>The path (or stream name) the file was read from; used in error messages.</summary>
    public string Source { get; }

    /// <summary>The <c>__metadata__</c> string-to-string map; empty when the file has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Tensor names in data-section order.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>Number of tensors.</summary>
    public int Count => Names.Count;

    /// <summary>True when the file has a tensor of that name.</summary>
    public bool Contains(string name) => _entries.ContainsKey(name);

    /// <summary>Dtype, shape and offsets of one tensor.</summary>
    /// <exception cref="CurvNativeFormatException">No tensor of that name.</exception>
    public SafetensorsTensorInfo GetInfo(string name) => Find(name).Info;

    /// <summary>
    /// A new tensor with the elements of an F32 or F64 entry, converted to <typeparamref name="T"/> when the
    /// file holds the other float width (F64 to float rounds to nearest; values beyond float range become
    /// infinities, so check weights with <see cref="TensorChecks.EnsureFinite{T}"/>). Each call returns a fresh copy.
    /// </summary>
    /// <exception cref="CurvNativeFormatException">No tensor of that name, or its dtype is I64 (use
    /// <see cref="GetInt64"/>) or one this library does not load (BF16, I32, ...).</exception>
    public Tensor<T> GetTensor<T>(string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (info, data) = Find(name);
        int[] shape = info.ShapeArray;
        return data switch
        {
            float[] f => Tensor<T>.FromArray(Convert<float, T>(f), shape),
            double[] d => Tensor<T>.FromArray(Convert<double, T>(d), shape),
            long[] => throw new CurvNativeFormatException(Source, name,
                $"dtype is I64 (64-bit integers); expected F32 or F64 to load a Tensor<{typeof(T).Name}>. Use GetInt64 for integer tensors."),
            _ => throw new CurvNativeFormatException(Source, name,
                $"dtype {info.DType} is not supported; expected F32 or F64 (GetTensor) or I64 (GetInt64)."),
        };
    }

    /// <summary>A new <see cref="Int64Tensor"/> with the elements of an I64 entry (a fresh copy each call).</summary>
    /// <exception cref="CurvNativeFormatException">No tensor of that name, or its dtype is not I64.</exception>
    public Int64Tensor GetInt64(string name)
    {
        var (info, data) = Find(name);
        if (data is long[] l) return new Int64Tensor((long[])l.Clone(), info.ShapeArray);
        string hint = info.DType is F32 or F64 ? " Use GetTensor<float> or GetTensor<double> for float tensors." : "";
        throw new CurvNativeFormatException(Source, name, $"dtype is {info.DType}; expected I64 for GetInt64.{hint}");
    }

    private (SafetensorsTensorInfo Info, Array? Data) Find(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_entries.TryGetValue(name, out var e)) return e;
        string some = Names.Count == 0 ? "the file has no tensors"
            : $"the file has {Names.Count} tensor(s): " + string.Join(", ", Names.Take(8).Select(n => Text.Quote(n, 60))) + (Names.Count > 8 ? ", ..." : "");
        throw new CurvNativeFormatException(Source, name, $"no tensor with this name; {some}.");
    }

    private static TOut[] Convert<TIn, TOut>(TIn[] src)
        where TIn : unmanaged, IFloatingPointIeee754<TIn>
        where TOut : unmanaged, IFloatingPointIeee754<TOut>
    {
        if (typeof(TIn) == typeof(TOut)) return (TOut[])(object)src.Clone();
        var dst = new TOut[src.Length];
        for (int i = 0; i < src.Length; i++) dst[i] = TOut.CreateTruncating(src[i]);
        return dst;
    }

    // ------------------------------------------------------------------ reading

    /// <summary>Reads and validates a safetensors file, loading its F32, F64 and I64 tensors into memory.</summary>
    /// <exception cref="CurvNativeFormatException">The content is malformed (see the class remarks).</exception>
    /// <exception cref="IOException">The file cannot be opened or read.</exception>
    public static SafetensorsFile Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        return Load(fs, path);
    }

    /// <summary>Reads a safetensors file from the current position of a stream to its end.</summary>
    /// <param name="stream">The stream; non-seekable streams are first copied to memory.</param>
    /// <param name="sourceName">A name for the content, used in error messages.</param>
    /// <exception cref="CurvNativeFormatException">The content is malformed (see the class remarks).</exception>
    public static SafetensorsFile Read(Stream stream, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(sourceName);
        return Load(LittleEndian.Seekable(stream), sourceName);
    }

    private static SafetensorsFile Load(Stream s, string source)
    {
        try
        {
            return LoadCore(s, source);
        }
        catch (EndOfStreamException ex)
        {
            throw new CurvNativeFormatException(source, null,
                "the file ended before the data its header describes (was it modified while being read?).", ex);
        }
    }

    private static SafetensorsFile LoadCore(Stream s, string source)
    {
        long length = s.Length - s.Position;
        if (length < 8)
            throw new CurvNativeFormatException(source, null,
                $"the file is {length} bytes long; expected at least 8 bytes (a little-endian u64 header length, then the JSON header).");
        Span<byte> prefix = stackalloc byte[8];
        s.ReadExactly(prefix);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (n > MaxHeaderBytes)
            throw new CurvNativeFormatException(source, null,
                $"the header length prefix is {n} bytes; expected at most {MaxHeaderBytes} (100 MB). This is not a safetensors file or it is corrupt.");
        if ((long)n > length - 8)
            throw new CurvNativeFormatException(source, null,
                $"the header length prefix is {n} bytes but only {length - 8} bytes follow it (the file is {length} bytes long).");
        var header = new byte[n];
        s.ReadExactly(header);
        long dataLength = length - 8 - (long)n;

        var (metadata, infos) = ParseHeader(header, dataLength, source);

        var entries = new List<(SafetensorsTensorInfo, Array?)>(infos.Count);
        foreach (var info in infos) // sorted by offset, contiguous: the stream is at info.DataBegin
        {
            Array? data;
            switch (info.DType)
            {
                case F32: { var a = new float[info.ElementCount]; LittleEndian.Read<float>(s, a); data = a; break; }
                case F64: { var a = new double[info.ElementCount]; LittleEndian.Read<double>(s, a); data = a; break; }
                case I64: { var a = new long[info.ElementCount]; LittleEndian.Read<long>(s, a); data = a; break; }
                default: LittleEndian.Skip(s, info.DataEnd - info.DataBegin); data = null; break;
            }
            entries.Add((info, data));
        }
        return new SafetensorsFile(source, metadata, entries);
    }

    private static (IReadOnlyDictionary<string, string> Metadata, List<SafetensorsTensorInfo> Infos) ParseHeader(
        byte[] header, long dataLength, string source)
    {
        CurvNativeFormatException Fail(string? key, string detail, Exception? inner = null) => new(source, key, detail, inner);

        if (header.Length == 0)
            throw Fail(null, "the header is empty; expected a JSON object.");
        if (!Utf8.IsValid(header))
            throw Fail(null, $"the header is not valid UTF-8; it starts with {Text.Bytes(header, 60)}.");

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException ex)
        {
            throw Fail(null, $"the header is not valid JSON ({ex.Message}); it starts with {Text.Bytes(header, 60)}.", ex);
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var infos = new List<SafetensorsTensorInfo>();
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Fail(null, $"the header is a JSON {Kind(root)}; expected a JSON object mapping tensor names to {{\"dtype\", \"shape\", \"data_offsets\"}}.");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var prop in root.EnumerateObject())
            {
                string name = Name(prop, source, null);
                if (!seen.Add(name))
                    throw Fail(name, "the header lists this key twice; expected unique keys.");
                if (name == MetadataKey) ReadMetadata(prop.Value, metadata, source);
                else infos.Add(ParseTensor(name, prop.Value, dataLength, source));
            }
        }

        infos.Sort((a, b) =>
        {
            int c = a.DataBegin.CompareTo(b.DataBegin);
            if (c == 0) c = a.DataEnd.CompareTo(b.DataEnd);
            return c != 0 ? c : string.CompareOrdinal(a.Name, b.Name);
        });
        long pos = 0;
        SafetensorsTensorInfo? prev = null;
        foreach (var t in infos)
        {
            if (t.DataBegin < pos)
                throw Fail(t.Name, $"data_offsets [{t.DataBegin}, {t.DataEnd}] overlap tensor {Text.Quote(prev!.Name, 60)} at [{prev.DataBegin}, {prev.DataEnd}]; expected tensors packed one after another.");
            if (t.DataBegin > pos)
                throw Fail(t.Name, prev is null
                    ? $"data_offsets [{t.DataBegin}, {t.DataEnd}] leave bytes [0, {t.DataBegin}) of the data section unused; expected tensors packed contiguously from offset 0."
                    : $"data_offsets [{t.DataBegin}, {t.DataEnd}] leave a gap of {t.DataBegin - pos} bytes after tensor {Text.Quote(prev.Name, 60)}, which ends at {pos}; expected tensors packed contiguously.");
            pos = t.DataEnd;
            prev = t;
        }
        if (pos != dataLength)
            throw Fail(null, $"the data section is {dataLength} bytes but the header's tensors cover only {pos}: {dataLength - pos} trailing bytes are not described by the header; expected none.");

        return (new ReadOnlyDictionary<string, string>(metadata), infos);
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string source)
    {
        if (value.ValueKind == JsonValueKind.Null) return;
        if (value.ValueKind != JsonValueKind.Object)
            throw new CurvNativeFormatException(source, MetadataKey, $"expected a JSON object of string keys to string values, got a JSON {Kind(value)}.");
        foreach (var p in value.EnumerateObject())
        {
            string k = Name(p, source, MetadataKey);
            if (p.Value.ValueKind != JsonValueKind.String)
                throw new CurvNativeFormatException(source, MetadataKey, $"entry {Text.Quote(k, 60)} is a JSON {Kind(p.Value)}; expected a string (safetensors metadata maps strings to strings).");
            if (!metadata.TryAdd(k, Str(p.Value, source, MetadataKey)))
                throw new CurvNativeFormatException(source, MetadataKey, $"entry {Text.Quote(k, 60)} appears twice; expected unique keys.");
        }
    }

    private static SafetensorsTensorInfo ParseTensor(string name, JsonElement v, long dataLength, string source)
    {
        CurvNativeFormatException Fail(string detail) => new(source, name, detail);

        if (v.ValueKind != JsonValueKind.Object)
            throw Fail($"expected an object with \"dtype\", \"shape\" and \"data_offsets\", got a JSON {Kind(v)}.");
        JsonElement? dtypeEl = null, shapeEl = null, offsetsEl = null;
        foreach (var p in v.EnumerateObject())
        {
            string field = Name(p, source, name);
            ref JsonElement? slot = ref dtypeEl;
            if (field == "dtype") slot = ref dtypeEl;
            else if (field == "shape") slot = ref shapeEl;
            else if (field == "data_offsets") slot = ref offsetsEl;
            else continue; // unknown fields are ignored, as by the reference implementation
            if (slot is not null) throw Fail($"field \"{field}\" appears twice; expected it once.");
            slot = p.Value;
        }

        if (dtypeEl is not { } dt)
            throw Fail("missing field \"dtype\"; expected a string such as \"F32\".");
        if (dt.ValueKind != JsonValueKind.String)
            throw Fail($"field \"dtype\" is a JSON {Kind(dt)}; expected a string such as \"F32\".");
        string dtype = Str(dt, source, name);
        if (!DTypeBits.TryGetValue(dtype, out int bits))
            throw Fail($"unknown dtype {Text.Quote(dtype, 40)}; expected F32, F64 or I64 (other safetensors dtypes such as BF16 are listed but cannot be loaded).");

        if (shapeEl is not { } sh)
            throw Fail("missing field \"shape\"; expected an array of non-negative integers.");
        if (sh.ValueKind != JsonValueKind.Array)
            throw Fail($"field \"shape\" is a JSON {Kind(sh)}; expected an array of non-negative integers.");
        var shape = new int[sh.GetArrayLength()];
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number)
                throw Fail($"shape entry {i} is a JSON {Kind(d)}; expected a non-negative integer.");
            if (!d.TryGetInt64(out long dim))
                throw Fail($"shape entry {i} is {Text.Quote(d.GetRawText(), 40)}; expected a non-negative integer.");
            if (dim < 0)
                throw Fail($"shape entry {i} is {dim}; expected a non-negative integer.");
            if (dim > int.MaxValue)
                throw Fail($"shape entry {i} is {dim}; expected at most {int.MaxValue}.");
            shape[i++] = (int)dim;
        }
        if (!ShapeCheck.TryCount(shape, out long count))
            throw Fail($"shape {Tensors.Shape.Format(shape)} is too large (size overflow): the running product of its dimensions exceeds {int.MaxValue}, the most a tensor can hold.");

        if (offsetsEl is not { } off)
            throw Fail("missing field \"data_offsets\"; expected an array [begin, end] of two non-negative integers.");
        if (off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw Fail($"field \"data_offsets\" is {Text.Quote(off.GetRawText(), 60)}; expected an array [begin, end] of two non-negative integers.");
        long begin = Offset(off[0], 0), end = Offset(off[1], 1);
        long Offset(JsonElement e, int which)
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt64(out long o) || o < 0)
                throw Fail($"data_offsets entry {which} is {Text.Quote(e.GetRawText(), 40)}; expected a non-negative integer.");
            return o;
        }
        if (begin > end)
            throw Fail($"data_offsets [{begin}, {end}] end before they begin; expected begin <= end.");
        if (end > dataLength)
            throw Fail($"data_offsets [{begin}, {end}] reach past the end of the data section, which is {dataLength} bytes; expected end <= {dataLength}.");
        long totalBits = count * bits;
        if (totalBits % 8 != 0)
            throw Fail($"shape {Tensors.Shape.Format(shape)} of {dtype} is {totalBits} bits, not a whole number of bytes.");
        long bytes = totalBits / 8;
        if (end - begin != bytes)
            throw Fail($"data_offsets [{begin}, {end}] span {end - begin} bytes; expected {bytes} bytes for shape {Tensors.Shape.Format(shape)} of {dtype} ({count} elements of {bits} bits).");

        return new SafetensorsTensorInfo(name, dtype, shape, count, begin, end);
    }

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Null => "null",
        _ => e.ValueKind.ToString(),
    };

    // JSON strings can hold escapes of lone surrogates that do not transcode; report them as format errors.
    private static string Name(JsonProperty p, string source, string? key)
    {
        try { return p.Name; }
        catch (InvalidOperationException ex) { throw new CurvNativeFormatException(source, key, $"the header holds a key that is not a valid string ({ex.Message}).", ex); }
    }

    private static string Str(JsonElement e, string source, string? key)
    {
        try { return e.GetString()!; }
        catch (InvalidOperationException ex) { throw new CurvNativeFormatException(source, key, $"the header holds a value that is not a valid string ({ex.Message}).", ex); }
    }

    // ------------------------------------------------------------------ writing

    /// <summary>
    /// Writes tensors to a safetensors file atomically (temporary file in the same folder, then rename; on
    /// failure the destination is untouched and no temporary file remains).
    /// </summary>
    /// <param name="path">Destination path; its directory must exist.</param>
    /// <param name="tensors">Name to <see cref="Tensor{T}"/> of float (written F32) or double (F64), or <see cref="Int64Tensor"/> (I64).</param>
    /// <param name="metadata">Optional <c>__metadata__</c> string map.</param>
    /// <exception cref="ArgumentException">A value of another type, the reserved name <c>__metadata__</c>, or a name that is not valid UTF-16.</exception>
    /// <exception cref="IOException">The file cannot be written (for example its directory does not exist).</exception>
    public static void Write(string path, IReadOnlyDictionary<string, object> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var w = new SafetensorsWriter();
        foreach (var (name, value) in tensors)
        {
            switch (value)
            {
                case Tensor<float> f: w.Add(name, f); break;
                case Tensor<double> d: w.Add(name, d); break;
                case Int64Tensor l: w.Add(name, l); break;
                default:
                    throw new ArgumentException(
                        $"Tensor '{name}' is a {value?.GetType().Name ?? "null"}; expected Tensor<float>, Tensor<double> or Int64Tensor.", nameof(tensors));
            }
        }
        if (metadata is not null)
            foreach (var (k, v) in metadata) w.AddMetadata(k, v);
        w.Write(path);
    }
}
