using System.Numerics;
using System.Runtime.CompilerServices;
using CurvNative.Native;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace CurvNative.Kernels.Gpu;

/// <summary>One accelerator ILGPU finds.</summary>
public sealed record IlgpuDeviceInfo(int Index, string Type, string Name, long MemoryBytes, int Multiprocessors, int MaxThreadsPerGroup, int SharedMemoryPerGroup, bool IsGpu);

/// <summary>A device-resident array of the ILGPU backend.</summary>
public sealed class IlgpuBuffer<T> : KernelBuffer<T> where T : unmanaged
{
    private readonly TransferCounter _counter;
    private MemoryBuffer1D<T, Stride1D.Dense>? _buffer;
    internal IlgpuBuffer(Accelerator accelerator, TransferCounter counter, long length)
    {
        _counter = counter;
        Length = length;
        _buffer = accelerator.Allocate1D<T>(Math.Max(1, length));
    }
    /// <inheritdoc />
    public override long Length { get; }
    internal ArrayView<T> View => (_buffer ?? throw new ObjectDisposedException(nameof(IlgpuBuffer<T>))).View;
    internal void Upload(ReadOnlySpan<T> data)
    {
        if (data.Length == 0) return;
        View.SubView(0, data.Length).CopyFromCPU(data);
        _counter.Record(true, (long)data.Length * Unsafe.SizeOf<T>());
    }
    /// <inheritdoc />
    public override void CopyTo(Span<T> destination)
    {
        KernelChecks.Length(destination.Length, Length, nameof(destination), "buffer length");
        if (Length == 0) return;
        View.SubView(0, Length).CopyToCPU(destination[..(int)Length]);
        _counter.Record(false, Length * Unsafe.SizeOf<T>());
    }
    /// <inheritdoc />
    public override void Dispose() { _buffer?.Dispose(); _buffer = null; }
}

/// <summary>The group edge of the ILGPU GEMM kernels (<see cref="ITileEdge"/>); Auto picks it from the accelerator.</summary>
public enum IlgpuTile
{
    /// <summary>4 on ILGPU's CPU accelerator, 16 on GPUs.</summary>
    Auto = 0,
    /// <summary>4 x 4 groups.</summary>
    Edge4 = 4,
    /// <summary>8 x 8 groups.</summary>
    Edge8 = 8,
    /// <summary>16 x 16 groups.</summary>
    Edge16 = 16,
}

/// <summary>Which GEMM kernel of <see cref="GemmKernels"/> the ILGPU backend launches.</summary>
public enum IlgpuGemmKernel
{
    /// <summary>
    /// On GPUs: register-blocked for outputs of at least 2E x 2E (smaller ones would leave most of a 4E x 4E block
    /// idle) when the device has the shared memory, one element per thread otherwise. On the CPU accelerator:
    /// register-blocked always (its cost is the number of emulated groups and barriers, which blocking divides by 16).
    /// </summary>
    Auto = 0,
    /// <summary>Always <see cref="GemmKernels.Gemm{T, TOps, TTile}"/> (one element per thread).</summary>
    Simple,
    /// <summary>Always <see cref="GemmKernels.GemmBlocked{T, TOps, TTile}"/> (4 x 4 per thread).</summary>
    RegisterBlocked,
}

/// <summary>Kernel configuration of an <see cref="IlgpuKernelBackend"/>; the defaults choose per accelerator.</summary>
/// <param name="Tile">Group edge of the GEMM kernels.</param>
/// <param name="Gemm">GEMM kernel.</param>
public sealed record IlgpuKernelOptions(IlgpuTile Tile = IlgpuTile.Auto, IlgpuGemmKernel Gemm = IlgpuGemmKernel.Auto);

/// <summary>
/// The ILGPU backend: every family runs in hand-written kernels (<see cref="GemmKernels"/>, <see cref="TaylorKernels"/>,
/// <see cref="WoodburyKernels"/>) on one accelerator (CUDA, OpenCL or ILGPU's CPU accelerator); Cholesky of the
/// Woodbury kernel runs on the host (LAPACK). Per-call operands are uploaded, results downloaded, all counted in
/// <see cref="IKernelBackend.Transfers"/>; long-lived operands are <see cref="KernelBuffer{T}"/>s. The GEMM's group
/// edge and kernel are chosen per accelerator (<see cref="IlgpuKernelOptions"/>): 16 x 16 groups on GPUs with the
/// register-blocked kernel for outputs of at least 32 x 32, 4 x 4 groups register-blocked on the CPU accelerator.
/// </summary>
public sealed class IlgpuKernelBackend : IKernelBackend
{
    private readonly Context _context;
    private readonly Accelerator _accelerator;
    private readonly Dictionary<Type, object> _sets = new();

    /// <summary>
    /// The CPU accelerator ILGPU tests on: groups up to 256 threads like a GPU (so the GPUs' 16 x 16 configuration
    /// can be checked here too), one simulated multiprocessor per core (groups of one launch run in parallel).
    /// Each thread of a group is an OS thread that meets the others at every barrier, which is why the backend
    /// launches 4 x 4 groups here (<see cref="IlgpuTile.Auto"/>).
    /// </summary>
    public static CPUDevice TestBedDevice { get; } = new(numThreadsPerWarp: 4, numWarpsPerMultiprocessor: 64,
        numMultiprocessors: Math.Clamp(Environment.ProcessorCount, 1, 4));

    private static Context CreateContext() => Context.Create(b => b.Cuda().OpenCL().CPU(TestBedDevice).EnableAlgorithms());

    /// <summary>Accelerators found, GPUs first, then the CPU accelerator.</summary>
    public static IReadOnlyList<IlgpuDeviceInfo> ListDevices()
    {
        using var context = CreateContext();
        return Ordered(context).Select((d, i) => new IlgpuDeviceInfo(i, d.AcceleratorType.ToString(), d.Name, d.MemorySize, d.NumMultiprocessors,
            d.MaxNumThreadsPerGroup, d.MaxSharedMemoryPerGroup, d.AcceleratorType != AcceleratorType.CPU)).ToList();
    }

    private static List<Device> Ordered(Context context)
        => context.Devices.OrderBy(d => d.AcceleratorType == AcceleratorType.CPU ? 1 : 0).ToList();

    /// <summary>
    /// Creates the backend on device <paramref name="device"/> of <see cref="ListDevices"/> (0: the first GPU, or the
    /// CPU accelerator when there is none), with the GEMM configuration of <paramref name="options"/> (default: chosen
    /// from the accelerator type).
    /// </summary>
    public IlgpuKernelBackend(int device = 0, IlgpuKernelOptions? options = null)
    {
        options ??= new IlgpuKernelOptions();
        if (!Enum.IsDefined(options.Tile)) throw new ArgumentOutOfRangeException(nameof(options), $"Unknown tile {options.Tile}; expected Auto, Edge4, Edge8 or Edge16.");
        if (!Enum.IsDefined(options.Gemm)) throw new ArgumentOutOfRangeException(nameof(options), $"Unknown GEMM kernel {options.Gemm}; expected Auto, Simple or RegisterBlocked.");
        _context = CreateContext();
        var devices = Ordered(_context);
        if (device < 0 || device >= devices.Count)
        {
            _context.Dispose();
            throw new ArgumentOutOfRangeException(nameof(device), $"ILGPU device {device} does not exist: {devices.Count} found (0..{devices.Count - 1}).");
        }
        _accelerator = devices[device].CreateAccelerator(_context);
        bool cpu = _accelerator.AcceleratorType == AcceleratorType.CPU;
        TileEdge = options.Tile == IlgpuTile.Auto ? (cpu ? 4 : 16) : (int)options.Tile;
        // Shared memory is sized for double, the larger element type.
        int simpleBytes = GemmKernels.SimpleSharedElements(TileEdge) * sizeof(double), blockedBytes = GemmKernels.BlockedSharedElements(TileEdge) * sizeof(double);
        string? missing = _accelerator.MaxNumThreadsPerGroup < TileEdge * TileEdge ? $"{TileEdge * TileEdge} threads per group (it allows {_accelerator.MaxNumThreadsPerGroup})"
            : _accelerator.MaxSharedMemoryPerGroup < simpleBytes ? $"{simpleBytes} bytes of shared memory per group (it has {_accelerator.MaxSharedMemoryPerGroup})"
            : options.Gemm == IlgpuGemmKernel.RegisterBlocked && _accelerator.MaxSharedMemoryPerGroup < blockedBytes ? $"{blockedBytes} bytes of shared memory per group for the register-blocked GEMM (it has {_accelerator.MaxSharedMemoryPerGroup})"
            : null;
        if (missing != null)
        {
            string name = _accelerator.Name;
            _accelerator.Dispose(); _context.Dispose();
            throw new NotSupportedException($"ILGPU device {device} ({name}) cannot run {TileEdge} x {TileEdge} GEMM groups: they need {missing}.");
        }
        GemmKernel = options.Gemm != IlgpuGemmKernel.Auto ? options.Gemm
            : _accelerator.MaxSharedMemoryPerGroup < blockedBytes ? IlgpuGemmKernel.Simple
            : cpu ? IlgpuGemmKernel.RegisterBlocked : IlgpuGemmKernel.Auto;
    }

    /// <inheritdoc />
    public string Name => "ilgpu";
    /// <inheritdoc />
    public string DeviceName => $"{_accelerator.AcceleratorType}: {_accelerator.Name}";
    /// <inheritdoc />
    public TransferCounter Transfers { get; } = new();
    /// <summary>The group edge E of the GEMM kernels on this device (4 on the CPU accelerator, 16 on GPUs unless set).</summary>
    public int TileEdge { get; }
    /// <summary>The GEMM kernel in use: Simple, RegisterBlocked, or Auto (per call: register-blocked for outputs of at least 2E x 2E).</summary>
    public IlgpuGemmKernel GemmKernel { get; }
    /// <summary>True when the accelerator is a GPU (CUDA or OpenCL), false on ILGPU's CPU accelerator.</summary>
    public bool IsGpu => _accelerator.AcceleratorType != AcceleratorType.CPU;

    private abstract class KernelSet<T> where T : unmanaged
    {
        public abstract Action<KernelConfig, ArrayView<T>, ArrayView<T>, ArrayView<T>, GemmArgs<T>> Gemm { get; }
        public abstract Action<KernelConfig, ArrayView<T>, ArrayView<T>, ArrayView<T>, GemmArgs<T>> GemmBlocked { get; }
        public abstract Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, int> Activate { get; }
        public abstract Action<Index1D, ArrayView<T>, ArrayView<T>, int> Broadcast { get; }
        public abstract Action<Index1D, ArrayView<T>, int, T> Identity { get; }
        public abstract Action<Index1D, ArrayView<T>, int, T> AddDiagonal { get; }
        public abstract Action<Index1D, ArrayView<T>, int> Symmetrize { get; }
    }

    private sealed class KernelSet<T, TOps, TTile>(Accelerator acc) : KernelSet<T> where T : unmanaged where TOps : struct, INumOps<T> where TTile : struct, ITileEdge
    {
        private readonly Lazy<Action<KernelConfig, ArrayView<T>, ArrayView<T>, ArrayView<T>, GemmArgs<T>>> _gemm =
            new(() => acc.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, GemmArgs<T>>(GemmKernels.Gemm<T, TOps, TTile>));
        private readonly Lazy<Action<KernelConfig, ArrayView<T>, ArrayView<T>, ArrayView<T>, GemmArgs<T>>> _blocked =
            new(() => acc.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, GemmArgs<T>>(GemmKernels.GemmBlocked<T, TOps, TTile>));
        public override Action<KernelConfig, ArrayView<T>, ArrayView<T>, ArrayView<T>, GemmArgs<T>> Gemm => _gemm.Value;
        public override Action<KernelConfig, ArrayView<T>, ArrayView<T>, ArrayView<T>, GemmArgs<T>> GemmBlocked => _blocked.Value;
        public override Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, int> Activate { get; } =
            acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, int>(TaylorKernels.Activate<T, TOps>);
        public override Action<Index1D, ArrayView<T>, ArrayView<T>, int> Broadcast { get; } =
            acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, int>(TaylorKernels.Broadcast<T>);
        public override Action<Index1D, ArrayView<T>, int, T> Identity { get; } =
            acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, int, T>(TaylorKernels.Identity<T, TOps>);
        public override Action<Index1D, ArrayView<T>, int, T> AddDiagonal { get; } =
            acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, int, T>(WoodburyKernels.AddDiagonal<T, TOps>);
        public override Action<Index1D, ArrayView<T>, int> Symmetrize { get; } =
            acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, int>(GemmKernels.Symmetrize<T>);
    }

    private KernelSet<T> Set<T>() where T : unmanaged
    {
        lock (_sets)
        {
            if (_sets.TryGetValue(typeof(T), out var s)) return (KernelSet<T>)s;
            object created = typeof(T) == typeof(double) ? Make<double, F64Ops>()
                : typeof(T) == typeof(float) ? Make<float, F32Ops>()
                : throw new NotSupportedException($"The ILGPU kernels support float and double, not {typeof(T).Name}.");
            _sets[typeof(T)] = created;
            return (KernelSet<T>)created;
        }
    }

    private KernelSet<T> Make<T, TOps>() where T : unmanaged where TOps : struct, INumOps<T> => TileEdge switch
    {
        4 => new KernelSet<T, TOps, Tile4>(_accelerator),
        8 => new KernelSet<T, TOps, Tile8>(_accelerator),
        _ => new KernelSet<T, TOps, Tile16>(_accelerator),
    };

    private IlgpuBuffer<T> Alloc<T>(long length) where T : unmanaged => new(_accelerator, Transfers, length);

    private IlgpuBuffer<T> Up<T>(ReadOnlySpan<T> data) where T : unmanaged
    {
        var b = Alloc<T>(data.Length);
        b.Upload(data);
        return b;
    }

    /// <inheritdoc />
    public KernelBuffer<T> Upload<T>(ReadOnlySpan<T> data) where T : unmanaged, IFloatingPointIeee754<T> => Up(data);

    private static IlgpuBuffer<T> Own<T>(KernelBuffer<T> b, string name) where T : unmanaged
        => b as IlgpuBuffer<T> ?? throw new ArgumentException($"{name} is a {b.GetType().Name}, not a buffer of the ILGPU backend.", name);

    /// <summary>CUDA's limit on grid dimensions Y and Z (X allows 2^31 - 1): larger launches are split (settable for tests).</summary>
    internal int MaxGridYZ { get; set; } = 65535;

    /// <summary>Launches C = alpha op(A) op(B) + beta C on device views (row-major, batched over grid Z).</summary>
    private void GemmDevice<T>(bool transA, bool transB, int m, int n, int k, T alpha, ArrayView<T> a, ArrayView<T> b, T beta, ArrayView<T> c,
        int batch = 1, long batchA = 0, long batchB = 0, long batchC = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m == 0 || n == 0 || batch == 0) return;
        var p = new GemmArgs<T>
        {
            M = m, N = n, K = k,
            RsA = transA ? 1 : k, CsA = transA ? m : 1, BatchA = batchA,
            RsB = transB ? 1 : n, CsB = transB ? k : 1, BatchB = batchB,
            Ldc = n, BatchC = batchC, Alpha = alpha, Beta = beta,
        };
        int e = TileEdge;
        bool blocked = GemmKernel == IlgpuGemmKernel.RegisterBlocked || GemmKernel == IlgpuGemmKernel.Auto && m >= 2 * e && n >= 2 * e;
        int w = blocked ? GemmKernels.Block * e : e;
        var set = Set<T>();
        var kernel = blocked ? set.GemmBlocked : set.Gemm;
        int rowBlocks = (m + w - 1) / w, colBlocks = (n + w - 1) / w;
        // Column blocks and batches beyond the grid limit go in further launches with shifted offsets.
        for (int z0 = 0; z0 < batch; z0 += MaxGridYZ)
            for (long cb0 = 0; cb0 < colBlocks; cb0 += MaxGridYZ)
            {
                int zs = Math.Min(MaxGridYZ, batch - z0), cbs = (int)Math.Min(MaxGridYZ, colBlocks - cb0);
                long col0 = cb0 * w;
                var q = p;
                q.N = (int)Math.Min(n - col0, (long)cbs * w);
                q.A0 = z0 * batchA;
                q.B0 = z0 * batchB + col0 * p.CsB;
                q.C0 = z0 * batchC + col0;
                kernel(new KernelConfig(new Index3D(rowBlocks, cbs, zs), new Index3D(e, e, 1)), a, b, c, q);
            }
    }

    /// <inheritdoc />
    public void Gemm<T>(bool transA, bool transB, int m, int n, int k, T alpha, ReadOnlySpan<T> a, ReadOnlySpan<T> b, T beta, Span<T> c)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        KernelChecks.Gemm(m, n, k, a.Length, b.Length, c.Length);
        if (m == 0 || n == 0) return;
        using var da = Up(a[..(m * k)]); using var db = Up(b[..(k * n)]);
        using var dc = Alloc<T>((long)m * n);
        if (beta != T.Zero) dc.Upload(c[..(m * n)]);
        GemmDevice(transA, transB, m, n, k, alpha, da.View, db.View, beta, dc.View);
        dc.CopyTo(c);
    }

    /// <inheritdoc />
    public void KroneckerMatmat<T>(int gDim, int aDim, int k, KernelBuffer<T> g, bool transG, KernelBuffer<T> a, bool transA, ReadOnlySpan<T> v, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        KernelChecks.Kronecker(gDim, aDim, k, g, a, v.Length, y.Length);
        var dg = Own(g, nameof(g)); var da = Own(a, nameof(a));
        long size = (long)gDim * aDim;
        if (size == 0 || k == 0) return;
        using var dv = Up(v[..(int)(k * size)]);
        using var dt = Alloc<T>(k * size);
        using var dy = Alloc<T>(k * size);
        // T = X A^T over all K columns as one [K*gDim, aDim] GEMM, then Y_j = op(G) T_j as one batched GEMM (grid Z = K).
        GemmDevice(false, !transA, k * gDim, aDim, aDim, T.One, dv.View, da.View, T.Zero, dt.View);
        GemmDevice(transG, false, gDim, aDim, gDim, T.One, dg.View, dt.View, T.Zero, dy.View, k, 0, size, size);
        dy.CopyTo(y);
    }

    /// <inheritdoc />
    public void AccumulateFactor<T>(int n, int d, T scale, ReadOnlySpan<T> rows, T beta, Span<T> factor) where T : unmanaged, IFloatingPointIeee754<T>
    {
        KernelChecks.Accumulate(n, d, rows.Length, factor.Length);
        if (d == 0) return;
        using var dr = Up(rows[..(n * d)]);
        using var df = Alloc<T>((long)d * d);
        if (beta != T.Zero) df.Upload(factor[..(d * d)]);
        GemmDevice(true, false, d, d, n, scale, dr.View, dr.View, beta, df.View);
        df.CopyTo(factor);
    }

    /// <inheritdoc />
    public int WoodburySolve<T>(int n, int p, KernelBuffer<T> jacobian, T lambda, ReadOnlySpan<T> g, Span<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        KernelChecks.Woodbury(n, p, jacobian.Length, g.Length, x.Length, lambda);
        var dj = Own(jacobian, nameof(jacobian));
        if (p == 0) return 0;
        using var dg = Up(g[..p]);
        var kernel = new T[(long)n * n];
        var jg = new T[n];
        if (n > 0)
        {
            using var dk = Alloc<T>((long)n * n);
            GemmDevice(false, true, n, n, p, T.One, dj.View, dj.View, T.Zero, dk.View);
            Set<T>().AddDiagonal(n, dk.View, n, lambda);
            dk.CopyTo(kernel);
            int info = Lapack.TryCholesky<T>(n, kernel);
            if (info != 0) return info;
            using var djg = Alloc<T>(n);
            GemmDevice(false, false, n, 1, p, T.One, dj.View, dg.View, T.Zero, djg.View);
            djg.CopyTo(jg);
            Lapack.CholeskySolve<T>(n, 1, kernel, jg);
        }
        using var dy = Up<T>(jg);
        using var dx = Up(g[..p]);
        // x = g / lambda - J^T y / lambda.
        T inv = T.One / lambda;
        GemmDevice(true, false, p, 1, n, -inv, dj.View, dy.View, inv, dx.View);
        dx.CopyTo(x);
        return 0;
    }

    /// <inheritdoc />
    public void ForwardLaplacian<T>(TaylorNetwork<T> network, int batch, ReadOnlySpan<T> x, Span<T> values, Span<T> laplacians) where T : unmanaged, IFloatingPointIeee754<T>
    {
        KernelChecks.Taylor(network, this, batch, x.Length, values.Length, laplacians.Length);
        int d = network.Widths[0], o = network.Widths[^1];
        if (batch == 0) return;
        var set = Set<T>();
        var h = Up(x[..(batch * d)]);
        var dirs = Alloc<T>((long)batch * d * d);
        var lap = Alloc<T>((long)batch * d);
        try
        {
            if (d > 0) { set.Identity(batch * d * d, dirs.View, d, T.One); lap.View.SubView(0, batch * d).MemSetToZero(); }
            for (int l = 0; l < network.Widths.Count - 1; l++)
            {
                int win = network.Widths[l], wout = network.Widths[l + 1];
                var w = Own(network.Weights[l], "weights"); var bias = Own(network.Biases[l], "biases");
                var h2 = Alloc<T>((long)batch * wout);
                var dirs2 = Alloc<T>((long)batch * d * wout);
                var lap2 = Alloc<T>((long)batch * wout);
                if (wout > 0)
                {
                    set.Broadcast(batch * wout, h2.View, bias.View, wout);
                    GemmDevice(false, true, batch, wout, win, T.One, h.View, w.View, T.One, h2.View);
                    GemmDevice(false, true, batch * d, wout, win, T.One, dirs.View, w.View, T.Zero, dirs2.View);
                    GemmDevice(false, true, batch, wout, win, T.One, lap.View, w.View, T.Zero, lap2.View);
                    if (network.Activations[l] != TaylorActivation.Identity)
                        set.Activate(batch * wout, h2.View, dirs2.View, lap2.View, d, wout, (int)network.Activations[l]);
                }
                h.Dispose(); dirs.Dispose(); lap.Dispose();
                h = h2; dirs = dirs2; lap = lap2;
            }
            if (o > 0)
            {
                h.View.SubView(0, batch * o).CopyToCPU(values[..(batch * o)]);
                lap.View.SubView(0, batch * o).CopyToCPU(laplacians[..(batch * o)]);
                Transfers.Record(false, (long)batch * o * Unsafe.SizeOf<T>());
                Transfers.Record(false, (long)batch * o * Unsafe.SizeOf<T>());
            }
        }
        finally { h.Dispose(); dirs.Dispose(); lap.Dispose(); }
    }

    /// <summary>
    /// Whether the device computes in float64: runs a 5 x 3 x 4 double GEMM here and compares it with the managed
    /// oracle (1e-12 relative). False, with the reason, when the kernel fails to compile or run (an OpenCL device
    /// without cl_khr_fp64) or its result differs (a device that emulates double in single precision).
    /// </summary>
    public bool VerifyFloat64(out string detail)
    {
        const int m = 5, n = 3, k = 4;
        var a = new double[m * k]; var b = new double[k * n]; var c0 = new double[m * n]; var c1 = new double[m * n];
        // Values whose products need more than float's 24 bits: 1 + 2^-30 i.
        for (int i = 0; i < a.Length; i++) a[i] = 1 + Math.ScaleB(i + 1, -30);
        for (int i = 0; i < b.Length; i++) b[i] = 1 - Math.ScaleB(2 * i + 1, -31);
        ManagedDense.Gemm<double>(false, false, m, n, k, 1, a, b, 0, c0);
        try { Gemm<double>(false, false, m, n, k, 1, a, b, 0, c1); }
        catch (Exception e) when (e is not OutOfMemoryException) { detail = $"a double GEMM failed: {e.GetType().Name}: {e.Message}"; return false; }
        double err = 0;
        for (int i = 0; i < c0.Length; i++) err = Math.Max(err, Math.Abs(c0[i] - c1[i]) / Math.Abs(c0[i]));
        if (!(err <= 1e-12)) { detail = $"a double GEMM differs from the managed oracle by {err:E2} relative (float64 emulated in lower precision?)"; return false; }
        detail = $"double GEMM matches the managed oracle ({err:E1} relative)";
        return true;
    }

    /// <summary>Waits for the accelerator (timing).</summary>
    public void Synchronize() => _accelerator.Synchronize();

    /// <inheritdoc />
    public void Dispose()
    {
        _accelerator.Dispose();
        _context.Dispose();
    }
}
