using System.Numerics;
using CurvNative.Threading;
using CurvNative.Autodiff;
using CurvNative.Tensors;

namespace CurvNative.Pde;

/// <summary>
/// The per-point Jacobian J [N, P] of a vector r [N] of per-point quantities (a PDE residual) with respect to
/// parameters, J[n, p] = d r_n / d theta_p, parameters flattened in order (P = sum of their sizes). This is ENGD's
/// residual Jacobian: its Gramian J^T J, gradient J^T r and kernel J J^T.
/// </summary>
public static class PointJacobian
{
    /// <summary>
    /// J by one reverse pass: with G_Z = d(sum_n r_n)/dZ for every matrix product Z = X W^T (or X W) and bias addition
    /// that uses a parameter, row i of X and of G_Z belongs to point i mod N, and d r_n / dW = sum over the rows i of
    /// point n of G_Z[i]^T X[i] (points are independent, so G_Z's rows of point n are d r_n / dZ). Cost: one backward pass
    /// plus one GEMM of the weight-gradient's size per use (as a per-sample gradient). Graphs built by
    /// <see cref="PdeOps.Apply{T}(Func{Var{T}, Var{T}}, Tensor{T}, PdeOperator{T}, TaylorMode)"/> on models of linear layers,
    /// elementwise activations and residual sums (any mode) meet the row layout; when a parameter is used any other way
    /// (or rows are not a multiple of N) this falls back to <see cref="ComputeByCotangents{T}"/>.
    /// </summary>
    public static Tensor<T> Compute<T>(Var<T> residual, IReadOnlyList<Var<T>> parameters) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(residual, parameters);
        Offsets(parameters, out int p);
        var j = Tensor<T>.Uninitialized(residual.Shape[0], p);
        Fill(residual, parameters, j, 0);
        return j;
    }

    /// <summary>
    /// <see cref="Compute{T}(Var{T}, IReadOnlyList{Var{T}})"/> into rows [<paramref name="firstRow"/>, firstRow + N) of
    /// <paramref name="destination"/> [M, P] (overwritten): for callers that keep one Jacobian buffer across steps and
    /// stack several residuals' rows in it, instead of allocating N x P per call and copying.
    /// </summary>
    /// <exception cref="ArgumentException">The destination is not [M, P] with M >= firstRow + N.</exception>
    public static void Compute<T>(Var<T> residual, IReadOnlyList<Var<T>> parameters, Tensor<T> destination, int firstRow) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(residual, parameters);
        ArgumentNullException.ThrowIfNull(destination);
        Offsets(parameters, out int p);
        int n = residual.Shape[0];
        if (destination.Rank != 2 || destination.Shape[1] != p || firstRow < 0 || (long)firstRow + n > destination.Shape[0])
            throw new ArgumentException($"The destination must be [M, {p}] with rows {firstRow}..{firstRow + n - 1}, got {Shape.Format(destination.Shape)}.", nameof(destination));
        Fill(residual, parameters, destination, firstRow);
    }

    private static void Fill<T>(Var<T> residual, IReadOnlyList<Var<T>> parameters, Tensor<T> j, int firstRow) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = residual.Shape[0];
        var offsets = Offsets(parameters, out int p);
        var js = j.Span.Slice(firstRow * p, n * p);
        var uses = Uses(residual, offsets, n);
        if (uses is null)
        {
            ComputeByCotangents(residual, parameters).Span.CopyTo(js);
            return;
        }
        js.Clear();
        if (uses.Count == 0 || n == 0) return;
        var outputs = uses.Select(u => u.Node.Output).Distinct(ReferenceEqualityComparer.Instance).Cast<Var<T>>().ToList();
        var grads = Autograd.Grad(F.Sum(residual), outputs);
        var gradOf = new Dictionary<Var<T>, Tensor<T>>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < outputs.Count; i++) gradOf[outputs[i]] = grads[i].Value;
        foreach (var use in uses)
        {
            var g = gradOf[use.Node.Output];
            // Rows of G and X are [Q, N]-ordered (row r * N + n belongs to point n). J's block for this use, row n, is
            // sum_r G[r, n]^T X[r, n] (an outer product per Taylor coefficient): Q rank-1 updates of a width x inner block
            // that stays in L1, written once. As GEMMs these would be N products of inner size Q (~D + 2), which BLAS
            // runs far below its rate; as SIMD row updates the assembly is bound by J's write bandwidth (N P values).
            // Points are split into contiguous chunks over the threads; each element's sum runs in the same order (r
            // ascending) whatever the split, so J does not depend on the thread count.
            int chunks = Math.Min(n, Math.Max(1, ParallelWork.Width) * 4);
            ParallelWork.Map(chunks, c =>
            {
                int first = (int)((long)n * c / chunks), last = (int)((long)n * (c + 1) / chunks);
                AssembleRows(use, g, j, firstRow, n, p, first, last);
                return 0;
            });
        }
    }

    /// <summary>Rows [first, last) of J's block for one parameter use (see <see cref="Compute{T}(Var{T}, IReadOnlyList{Var{T}})"/>),
    /// in the rows of <paramref name="j"/> that start at <paramref name="firstRow"/>.</summary>
    private static void AssembleRows<T>(Use<T> use, Tensor<T> g, Tensor<T> j, int firstRow, int n, int p, int first, int last) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = g.Shape[1], q = g.Shape[0] / n;
        var gs = g.Span;
        var js = j.Span.Slice(firstRow * p, n * p);
        if (use.Data is { } data)
        {
            int inner = data.Shape[1];
            var xs = data.Span;
            for (int point = first; point < last; point++)
            {
                var block = js.Slice(point * p + use.Offset, width * inner);
                for (int r = 0; r < q; r++)
                {
                    var grow = gs.Slice((r * n + point) * width, width);
                    var xrow = xs.Slice((r * n + point) * inner, inner);
                    if (use.Transposed)
                    {
                        // Z = X W^T: dW [out, in] += g^T x, row o of the block += g[o] x.
                        for (int o = 0; o < width; o++)
                        {
                            var row = block.Slice(o * inner, inner);
                            CurvNative.Tensors.Reductions.AddScaled(xrow, grow[o], row);
                        }
                    }
                    else
                    {
                        // Z = X W: dW [in, out] += x^T g, row i of the block += x[i] g.
                        for (int i = 0; i < inner; i++)
                        {
                            var row = block.Slice(i * width, width);
                            CurvNative.Tensors.Reductions.AddScaled(grow, xrow[i], row);
                        }
                    }
                }
            }
        }
        else
        {
            for (int point = first; point < last; point++)
            {
                var block = js.Slice(point * p + use.Offset, width);
                for (int r = 0; r < q; r++)
                    CurvNative.Tensors.Reductions.AddScaled(gs.Slice((r * n + point) * width, width), use.Sign, block);
            }
        }
    }

    /// <summary>
    /// J for any graph: reverse sweeps with the one-hot cotangents e_n, <paramref name="chunk"/> of them per stacked
    /// sweep (<see cref="Autograd.GradStacked{T}(Var{T}, IReadOnlyList{Var{T}}, Tensor{T})"/>). Exact, but N backward
    /// passes of the whole batch: the reference for <see cref="Compute{T}(Var{T}, IReadOnlyList{Var{T}})"/>.
    /// </summary>
    public static Tensor<T> ComputeByCotangents<T>(Var<T> residual, IReadOnlyList<Var<T>> parameters, int chunk = 32) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(residual, parameters);
        if (chunk < 1) throw new ArgumentOutOfRangeException(nameof(chunk), $"The chunk must be at least 1, got {chunk}.");
        int n = residual.Shape[0];
        var offsets = Offsets(parameters, out int p);
        var j = Tensor<T>.Zeros(n, p);
        for (int start = 0; start < n; start += chunk)
        {
            int k = Math.Min(chunk, n - start);
            var seeds = Tensor<T>.Zeros(k, n);
            for (int c = 0; c < k; c++) seeds.Span[c * n + start + c] = T.One;
            var grads = Autograd.GradStacked(residual, parameters, seeds);
            for (int i = 0; i < parameters.Count; i++)
            {
                int len = parameters[i].Length;
                for (int c = 0; c < k; c++)
                    grads[i].Span.Slice(c * len, len).CopyTo(j.Span.Slice((start + c) * p + offsets[parameters[i]], len));
            }
        }
        return j;
    }

    /// <summary>Whether <see cref="Compute{T}(Var{T}, IReadOnlyList{Var{T}})"/> takes the one-pass row-wise path for this graph.</summary>
    internal static bool IsRowwise<T>(Var<T> residual, IReadOnlyList<Var<T>> parameters) where T : unmanaged, IFloatingPointIeee754<T>
        => Uses(residual, Offsets(parameters, out _), residual.Shape[0]) is not null;

    /// <summary>One use of a parameter: a matrix product with data rows (W) or a bias addition (Data null).</summary>
    private sealed record Use<T>(Node<T> Node, int Offset, Tensor<T>? Data, bool Transposed, T Sign) where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>The parameter uses of the graph, or null when one of them is not a row-wise product or bias.</summary>
    private static List<Use<T>>? Uses<T>(Var<T> residual, Dictionary<Var<T>, int> offsets, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var uses = new List<Use<T>>();
        foreach (var node in Autograd.CollectNodes([residual]))
        {
            for (int i = 0; i < node.Inputs.Length; i++)
            {
                if (!offsets.TryGetValue(node.Inputs[i], out int offset)) continue;
                var (kind, ta, tb) = F.Describe(node.Primitive);
                var other = node.Inputs.Length == 2 ? node.Inputs[1 - i] : node.Inputs[0];
                bool rowsOk = other.Rank == 2 && n > 0 && other.Shape[0] % n == 0 && !offsets.ContainsKey(other);
                if (kind == F.PrimitiveKind.Linear && i == 1 && rowsOk) uses.Add(new Use<T>(node, offset, node.Inputs[0].Value, true, T.One));
                else if (kind == F.PrimitiveKind.Linear && i == 2 && node.Inputs[0].Rank == 2 && node.Inputs[0].Shape[0] % n == 0) uses.Add(new Use<T>(node, offset, null, false, T.One));
                else if (kind == F.PrimitiveKind.MatMul && i == 1 && !ta && rowsOk) uses.Add(new Use<T>(node, offset, other.Value, tb, T.One));
                else if (kind is F.PrimitiveKind.Add or F.PrimitiveKind.Subtract && node.Inputs[i].Rank == 1 && rowsOk && other.Shape[1] == node.Inputs[i].Shape[0])
                    uses.Add(new Use<T>(node, offset, null, false, kind == F.PrimitiveKind.Subtract && i == 1 ? -T.One : T.One));
                else return null;
            }
        }
        return uses;
    }

    private static Dictionary<Var<T>, int> Offsets<T>(IReadOnlyList<Var<T>> parameters, out int total) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var offsets = new Dictionary<Var<T>, int>(ReferenceEqualityComparer.Instance);
        total = 0;
        foreach (var v in parameters)
        {
            if (!offsets.TryAdd(v, total)) throw new ArgumentException($"Parameter '{v.Name}' is listed twice.");
            total += v.Length;
        }
        return offsets;
    }

    private static void Check<T>(Var<T> residual, IReadOnlyList<Var<T>> parameters) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(residual);
        ArgumentNullException.ThrowIfNull(parameters);
        if (residual.Rank != 1) throw new ArgumentException($"The residual must be one value per point [N], got {Shape.Format(residual.Shape)}.");
        foreach (var v in parameters)
            if (v.Creator is not null || !v.RequiresGrad)
                throw new ArgumentException($"Parameter '{v.Name}' must be a leaf that requires gradients.");
    }
}
